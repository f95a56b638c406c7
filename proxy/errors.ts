// Errors Sightline originates. Each has a stable code (it lands in the event's error_code),
// an HTTP status and whether a retry may help. Upstream errors are never wrapped: they pass through.
import type { ErrorRender } from '../providers/types.ts';

export class SightlineError extends Error {
  readonly code: string;
  readonly status: number;
  readonly retryable: boolean;
  readonly type: string;
  /** The request field at fault, when one is (OpenAI's error shape carries it as `param`). */
  readonly param: string | undefined;

  constructor(code: string, status: number, message: string, opts: { type?: string; retryable?: boolean; cause?: unknown; param?: string } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SightlineError';
    this.code = code;
    this.status = status;
    this.type = opts.type ?? typeForStatus(status);
    this.retryable = opts.retryable ?? false;
    this.param = opts.param;
  }

  toRender(): ErrorRender {
    const render: ErrorRender = { status: this.status, code: this.code, message: this.message, type: this.type };
    if (this.param !== undefined) render.param = this.param;
    return render;
  }
}

function typeForStatus(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

export const invalidHeader = (message: string) => new SightlineError('sightline_invalid_header', 400, message);
export const invalidJson = (message: string) => new SightlineError('sightline_invalid_json', 400, message);
export const bodyTooLarge = (limit: number) =>
  new SightlineError('sightline_body_too_large', 413, `Request body exceeds the ${limit}-byte limit; send a smaller body or raise limits.max_body_bytes (SIGHTLINE_MAX_BODY_BYTES).`);
export const unknownProvider = (prefix: string, known: readonly string[]) =>
  new SightlineError('sightline_unknown_provider', 404, `Unknown provider prefix "/${prefix}". Use one of: ${known.map((k) => `/${k}/`).join(', ')}, a bare provider path (/v1/…, /v1beta/models/…), or send Sightline-Target-Url for an OpenAI-compatible server.`);
export const targetNotAllowed = (message: string) => new SightlineError('sightline_target_not_allowed', 403, message);
export const unauthorized = (message: string) => new SightlineError('sightline_unauthorized', 401, message);
export const upstreamTimeout = (ms: number) =>
  new SightlineError('sightline_upstream_timeout', 504, `The upstream did not answer within ${ms} ms.`, { retryable: true });
export const upstreamUnreachable = (detail: string) =>
  new SightlineError('sightline_upstream_unreachable', 502, `Could not reach the upstream: ${detail}`, { retryable: true });
export const logUnavailable = () =>
  new SightlineError('sightline_log_unavailable', 503, 'Sightline cannot log this call right now (its spool is full or the disk is failing), and logging.on_failure is "reject"; retry shortly. Operators: see /_sightline/metrics and free space or raise spool.max_bytes.', { retryable: true, type: 'api_error' });
