// An upstream's error, whole body or mid-stream event, in the caller's error shape. The HTTP status is kept as the
// upstream sent it (an SDK picks its error class and its retry policy by status: a 529 stays a 529), and the
// upstream's own machine-readable reason travels in `code` so nothing of it is lost.
import { anthropicAdapter } from '../anthropic.ts';
import { renderOpenAiError } from '../openai.ts';
import { asArray, asObject, asString, clip } from '../shared.ts';
import type { JsonObject } from '../shared.ts';

export interface TranslatedError {
  status: number;
  body: JsonObject;
  /** Headers the body implies (Gemini's RetryInfo as `retry-after`); the upstream's own headers are the request path's. */
  headers: Record<string, string>;
}

const TYPE_BY_STATUS: Readonly<Record<number, string>> = {
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
};

/** The error type vocabulary Sightline's own errors use (ErrorRender.type), which is also Anthropic's. */
function typeForStatus(status: number): string {
  return TYPE_BY_STATUS[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

/** A body that is not the provider's JSON (an HTML page from a load balancer, say) still yields a message. */
function fallbackMessage(body: unknown, status: number): string {
  if (typeof body === 'string' && body.trim() !== '') return clip(body.trim(), 300);
  return `The upstream answered HTTP ${status}.`;
}

function openAiError(message: string, type: string, code: string): JsonObject {
  return renderOpenAiError({ status: 0, message, type, code }) as JsonObject;
}

/** Anthropic `{type:'error', error:{type, message}}` (either as a body or as an `error` stream event) → OpenAI's `{error:{…}}`. */
export function anthropicErrorObject(body: unknown, status: number): JsonObject {
  const e = asObject(asObject(body)?.error);
  const type = asString(e?.type) || typeForStatus(status);
  return openAiError(asString(e?.message) || fallbackMessage(body, status), type, type);
}

export function anthropicErrorToOpenAi(status: number, body: unknown): TranslatedError {
  return { status, body: anthropicErrorObject(body, status), headers: {} };
}

/** The google.rpc.Status of a Gemini error body (also sent as a one-element array by the non-SSE stream). */
function geminiStatus(body: unknown): JsonObject | undefined {
  const b = Array.isArray(body) ? body[0] : body;
  return asObject(asObject(b)?.error);
}

/** Gemini `{error:{code, message, status, details}}` → OpenAI's, code = the gRPC status name (RESOURCE_EXHAUSTED). */
export function geminiErrorObject(body: unknown, status: number): JsonObject {
  const e = geminiStatus(body);
  const httpStatus = typeof e?.code === 'number' ? e.code : status;
  return openAiError(asString(e?.message) || fallbackMessage(body, status), typeForStatus(httpStatus), asString(e?.status) || typeForStatus(httpStatus));
}

export function geminiErrorToOpenAi(status: number, body: unknown): TranslatedError {
  const headers: Record<string, string> = {};
  // Gemini says when to retry only inside the body (RetryInfo); SDKs read retry-after.
  for (const raw of asArray(geminiStatus(body)?.details)) {
    const detail = asObject(raw);
    const delay = /^(\d+(?:\.\d+)?)s$/.exec(asString(detail?.retryDelay));
    if (detail?.['@type'] === 'type.googleapis.com/google.rpc.RetryInfo' && delay?.[1]) headers['retry-after'] = String(Math.ceil(Number(delay[1])));
  }
  return { status, body: geminiErrorObject(body, status), headers };
}

const ANTHROPIC_TYPES = new Set([
  'invalid_request_error', 'authentication_error', 'billing_error', 'permission_error', 'not_found_error',
  'request_too_large', 'rate_limit_error', 'api_error', 'timeout_error', 'overloaded_error',
]);

/** OpenAI `{error:{message, type, code}}` → Anthropic's shape; the type follows the status, as Anthropic's does. */
export function openAiErrorToAnthropic(status: number, body: unknown): TranslatedError {
  const e = asObject(asObject(body)?.error);
  const message = asString(e?.message) || fallbackMessage(body, status);
  const code = asString(e?.code) || asString(e?.type) || typeForStatus(status);
  return { status, body: anthropicAdapter.renderError({ status, code, message, type: typeForStatus(status) }) as JsonObject, headers: {} };
}

/** A mid-stream OpenAI error frame (`data: {"error":{…}}`, no status) → the body of Anthropic's `error` event. */
export function openAiStreamErrorToAnthropic(json: JsonObject): JsonObject {
  const e = asObject(json.error);
  const openAiType = asString(e?.type);
  const type = ANTHROPIC_TYPES.has(openAiType) ? openAiType : 'api_error';
  return { type: 'error', error: { type, message: asString(e?.message) || 'The upstream stream failed.', code: asString(e?.code) || openAiType || type } };
}
