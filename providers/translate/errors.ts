// What translation refuses. A field that cannot be carried to the serving provider is never dropped silently: the
// call fails before the upstream is called, with a stable code and the path of the field in the caller's body, so
// the caller can see what to change. The same class covers an upstream answer that cannot be put into the caller's
// shape (status 502), which only a provider breaking its own format can cause.
import type { ErrorRender } from '../types.ts';

/** A field (or value) that has no equivalent at the serving provider. */
export const UNTRANSLATABLE = 'sightline_untranslatable';
/** The caller's body is not a valid request of its own API, so there is nothing to translate. */
export const INVALID_REQUEST = 'sightline_invalid_request';

export type TranslationErrorCode = typeof UNTRANSLATABLE | typeof INVALID_REQUEST;

export class TranslationError extends Error {
  readonly code: TranslationErrorCode;
  /** The field at fault as a path into the body it came from: `logit_bias`, `messages[2].content[0].image_url.url`. */
  readonly param: string;
  /** 400 for the caller's request, 502 for an upstream answer that could not be translated. */
  readonly status: number;

  constructor(code: TranslationErrorCode, param: string, message: string, status = 400) {
    super(message);
    this.name = 'TranslationError';
    this.code = code;
    this.param = param;
    this.status = status;
  }

  /** For the proxy's renderers (`ProviderAdapter.renderError`), as its own errors are rendered. */
  toRender(): ErrorRender {
    return { status: this.status, code: this.code, message: this.message, type: this.status >= 500 ? 'api_error' : 'invalid_request_error', param: this.param };
  }
}

/**
 * `<param> is not supported when the model is served by <provider>` (and why, when it helps): the one wording every
 * refusal uses, so callers and the README table read the same.
 */
export function untranslatable(param: string, served: string, why = ''): TranslationError {
  return new TranslationError(UNTRANSLATABLE, param, `${param} is not supported when the model is served by ${served}${why === '' ? '' : `: ${why}`}`);
}

export function invalidRequest(param: string, message: string): TranslationError {
  return new TranslationError(INVALID_REQUEST, param, `${param}: ${message}`);
}

/** An upstream answer that does not have the upstream's own shape (the caller gets a 502 naming where it broke). */
export function untranslatableResponse(param: string, message: string): TranslationError {
  return new TranslationError(UNTRANSLATABLE, param, `The upstream's response could not be translated: ${param} ${message}`, 502);
}

/** Joins a path the way the errors print it: `messages[2]` + `content` → `messages[2].content`. */
export function at(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}
