// One upstream attempt of a call, on the forwarder, and how its answer reaches the client. Two kinds of caller:
// - a pass-through call (no policy): the upstream's answer, whatever its status, streams to the client as it
//   came; the call ends with this attempt.
// - a gateway attempt (policy): a non-2xx answer is read whole (error bodies are small) and the policy decides
//   whether it goes to the client or to the next attempt; a 2xx answer goes to the client, translated into the
//   caller's API when the deployment speaks another. Until the first byte reached the client, a failure (reset,
//   timeout) is handed back for the next attempt; after it, the call is cut, never stitched.
// Either way the last bytes leave only once the call's event is logged (write-ahead, see server.ts complete()).
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { CallTranslation, StreamTranslator } from '../providers/translate/index.ts';
import { translateSseBytes, TranslationError } from '../providers/translate/index.ts';
import type { SseParser } from '../providers/sse.ts';
import type { Outcome, RequestCtx } from './context.ts';
import { answerHead } from './context.ts';
import { logUnavailable, SightlineError } from './errors.ts';
import type { AttemptFailure, Forwarder } from './forwarder.ts';
import type { UsageFrameCutter } from './strip-usage.ts';
import { createUsageFrameCutter } from './strip-usage.ts';
import { captureChunk, newCapture } from './tee.ts';
import { HOP_BY_HOP } from './upstream-headers.ts';

/** An error body longer than this is not read whole for a decision: it goes to the client as it comes. */
const MAX_DECIDED_BODY = 256 * 1024;

export interface AttemptIO {
  forwarder: Forwarder;
  writeAhead: boolean;
  /** Bytes of a response the tee keeps (the rest is counted). */
  captureLimit: number;
  complete(ctx: RequestCtx, outcome: Outcome, release: (logged: boolean) => void): void;
  /** Answers with Sightline's own error once the call is logged. */
  answerWithError(ctx: RequestCtx, res: ServerResponse, err: SightlineError): void;
  sendError(ctx: RequestCtx, res: ServerResponse, err: SightlineError): void;
  attemptError(kind: AttemptFailure, err: Error, ctx: RequestCtx): SightlineError;
  /** The client got the response head. */
  onHeaders(ctx: RequestCtx): void;
}

export interface AttemptSpec {
  url: URL;
  method: string;
  headers: string[];
  body: Buffer;
  callerNamed: boolean;
  /** Per-attempt timeout (no headers, or no body bytes, for this long); default: the forwarder's. */
  timeoutMs?: number;
  /** Sees what the client is sent (the response cache records a miss with it, gateway/cache.ts). */
  tap?: AttemptTap | undefined;
}

/**
 * A copy of the response as the client receives it: its head, every byte in order, then `end` once the last bytes
 * left, which is after the call's event was logged (write-ahead). A cut or failed answer never ends.
 */
export interface AttemptTap {
  /** Added to the client's response head. */
  readonly headers: Readonly<Record<string, string>>;
  head(status: number, headers: OutgoingHttpHeaders): void;
  data(chunk: Buffer | string): void;
  end(): void;
}

/** An attempt that did not serve the call: what the next attempt (or the final answer) needs to know. */
export interface AttemptFailureInfo {
  /** Upstream status, or -1 when no response came. */
  status: number;
  /** sightline_* code, or the upstream's error type. */
  code: string;
  message: string;
  /** What the upstream asked us to wait (retry-after / retry-after-ms), in ms. */
  retryAfterMs: number | undefined;
  /** `retryable`: 5xx / 429 / timeout / connection; the others only move to their own fallback chain. */
  kind: 'retryable' | 'context_window' | 'content_policy';
  /** The upstream's answer, kept so it can still be the call's answer when nothing else serves. */
  answer?: { status: number; headers: OutgoingHttpHeaders; body: Buffer };
  /** Sightline's own error for an attempt that got no response. */
  error?: SightlineError;
}

export type AttemptResult = { served: true } | { served: false; failure: AttemptFailureInfo };

export interface AttemptPolicy {
  /** Whether this upstream answer (status, headers, the body read whole) should go to the next attempt instead. */
  decide(status: number, headers: IncomingHttpHeaders, body: Buffer): AttemptFailureInfo | undefined;
  /** Set when the deployment speaks another API than the caller: answers are translated. */
  translation: CallTranslation | undefined;
  /** Headers added to the client's response (which alias and deployment served, how many attempts). */
  responseHeaders(): Readonly<Record<string, string>>;
}

/** Runs one attempt. Resolves once the call is served (its answer committed to the client) or the attempt failed. */
export function runAttempt(io: AttemptIO, ctx: RequestCtx, res: ServerResponse, spec: AttemptSpec, policy?: AttemptPolicy): Promise<AttemptResult> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (r: AttemptResult) => {
      if (settled) return;
      settled = true;
      resolve(r);
    };
    const served = () => settle({ served: true });
    const translation = policy?.translation;
    const tap = spec.tap;

    // Each attempt's bytes are its own: the row carries the last attempt's answer.
    ctx.capture = newCapture();
    ctx.status = ctx.upstreamStatus = 0;
    ctx.contentType = ctx.contentEncoding = '';

    let cutter: UsageFrameCutter | undefined;
    let pendingHead: OutgoingHttpHeaders | undefined;
    let statusMessage = '';
    let remaining = -1; // bytes of a content-length body still to come
    let held: Buffer | undefined; // the last bytes, released once the event is logged
    let sentAny = false; // a byte of the body reached the client: no other attempt may serve any more
    let mode: 'pass' | 'decide' | 'json' | 'sse' = 'pass';
    let buffered: Buffer[] = [];
    let bufferedBytes = 0;
    let upstreamHeaders: IncomingHttpHeaders = {};
    let sse: SseParser | undefined;
    let sseEnding = false;
    let sseTail = '';

    /** The head reaching the client commits the call to this attempt. */
    const writeHead = () => {
      if (pendingHead === undefined) return;
      tap?.head(ctx.status, pendingHead);
      res.writeHead(ctx.status, statusMessage, answerHead(ctx, pendingHead));
      pendingHead = undefined;
      sentAny = true;
      served();
      io.onHeaders(ctx);
    };
    let waitingDrain = false;
    const onDrain = () => {
      waitingDrain = false;
      ctx.attempt?.resume();
    };
    /** Writes to the client; false when it is not keeping up (the upstream is paused until it drains). */
    const write = (out: Buffer | string): boolean => {
      writeHead();
      tap?.data(out);
      if (res.write(out)) return true;
      if (!waitingDrain) {
        waitingDrain = true;
        res.once('drain', onDrain);
      }
      return false;
    };
    const clientHeaders = (upstream: IncomingHttpHeaders): OutgoingHttpHeaders => {
      const out: OutgoingHttpHeaders = {};
      for (const name in upstream) {
        const v = upstream[name];
        if (v !== undefined && !HOP_BY_HOP.has(name)) out[name] = v;
      }
      out['sightline-id'] = ctx.requestId;
      if (policy) Object.assign(out, policy.responseHeaders());
      if (tap) Object.assign(out, tap.headers);
      return out;
    };
    /** A whole answer (translated JSON, or an error), sent once the call is logged. */
    const answerWhole = (status: number, headers: OutgoingHttpHeaders, body: Buffer) => {
      served();
      sentAny = true;
      ctx.endedAt = performance.now();
      ctx.status = status;
      io.complete(ctx, 'completed', (logged) => {
        if (!logged) return io.sendError(ctx, res, logUnavailable());
        const head = { ...headers, 'content-length': body.length };
        tap?.head(status, head);
        res.writeHead(status, answerHead(ctx, head));
        io.onHeaders(ctx);
        tap?.data(body);
        res.end(body);
        tap?.end();
      });
    };
    const failed = (failure: AttemptFailureInfo) => {
      ctx.attempt = undefined;
      settle({ served: false, failure });
    };

    ctx.attempt = io.forwarder.send({
      origin: spec.url.origin,
      path: spec.url.pathname + spec.url.search,
      method: spec.method,
      headers: spec.headers,
      body: spec.body,
      callerNamed: spec.callerNamed,
      ...(spec.timeoutMs !== undefined ? { timeoutMs: spec.timeoutMs } : {}),
    }, {
      onStart(status, upstream, message) {
        ctx.ttfbAt = performance.now();
        ctx.status = ctx.upstreamStatus = status;
        ctx.contentType = headerString(upstream['content-type']);
        ctx.contentEncoding = headerString(upstream['content-encoding']).toLowerCase();
        upstreamHeaders = upstream;
        const ok = status >= 200 && status < 300;
        const declared = Number(upstream['content-length'] ?? NaN);
        if (policy && (!ok || translation) && !(declared > MAX_DECIDED_BODY && !translation)) {
          // Read whole: an error to decide on (or translate), or a JSON answer to translate.
          mode = !ok ? 'decide' : ctx.contentType.includes('text/event-stream') ? 'sse' : 'json';
          if (mode !== 'sse') return;
          const out = clientHeaders(upstream);
          delete out['content-length'];
          delete out['content-encoding'];
          statusMessage = message;
          pendingHead = out;
          sse = translateSseBytes(translation!.stream(), (text) => {
            if (sseEnding) sseTail += text;
            else write(text);
          });
          return;
        }
        const out = clientHeaders(upstream);
        if (ctx.hideUsageFrame && ctx.contentType.includes('text/event-stream') && ctx.adapter) {
          cutter = createUsageFrameCutter(ctx.adapter);
          delete out['content-length'];
        } else if (out['content-length'] !== undefined) {
          remaining = Number(out['content-length']);
        }
        statusMessage = message;
        pendingHead = out;
      },
      onData(chunk) {
        captureChunk(ctx.capture, chunk, io.captureLimit);
        if (mode === 'decide' || mode === 'json') {
          buffered.push(chunk);
          bufferedBytes += chunk.length;
          if (bufferedBytes <= io.captureLimit) return true;
          // Bounded like any body: an answer this large is not held to be translated.
          ctx.attempt?.abort();
          ctx.errorCode = 'sightline_untranslatable';
          answerWhole(502, { 'content-type': 'application/json', 'sightline-id': ctx.requestId }, renderedError(ctx, new TranslationError('sightline_untranslatable', 'body', `The upstream's response exceeds ${io.captureLimit} bytes, too large to translate.`, 502)));
          return false;
        }
        if (mode === 'sse') {
          sse!.push(chunk);
          if (sse!.unframed) {
            // A line past the framing cap cannot be translated: the stream ends here, as cut.
            ctx.attempt?.abort();
            ctx.endedAt = performance.now();
            ctx.errorType ||= 'unframed_stream';
            served();
            io.complete(ctx, 'upstream_cut', () => res.destroy());
            return false;
          }
          return !waitingDrain;
        }
        let out: Buffer | undefined = chunk;
        if (cutter) out = cutter.push(chunk);
        else if (remaining >= 0) {
          remaining -= chunk.length;
          // The body's final bytes wait for the event (write-ahead); the client cannot complete without them.
          if (remaining <= 0 && io.writeAhead) {
            held = chunk;
            return true;
          }
        }
        if (out === undefined || out.length === 0) {
          writeHead();
          return true;
        }
        return write(out);
      },
      onEnd() {
        if (mode === 'decide' || mode === 'json') return finishWhole();
        ctx.endedAt = performance.now();
        if (mode === 'sse') {
          sseEnding = true;
          sse!.end();
          served();
          io.complete(ctx, 'completed', (logged) => {
            if (!logged) {
              if (pendingHead !== undefined) return io.sendError(ctx, res, logUnavailable());
              return void res.destroy();
            }
            writeHead();
            if (sseTail !== '') tap?.data(sseTail);
            res.end(sseTail);
            tap?.end();
          });
          return;
        }
        const last = cutter ? cutter.end() : held;
        io.complete(ctx, 'completed', (logged) => {
          if (!logged) {
            // Rejecting an unlogged call: a clean 503 while nothing was sent, else the client sees it cut.
            if (pendingHead !== undefined) return io.sendError(ctx, res, logUnavailable());
            return void res.destroy();
          }
          writeHead();
          if (last !== undefined && last.length > 0) tap?.data(last);
          res.end(last);
          tap?.end();
        });
      },
      onError(kind, err, started) {
        // The client already left: its event is logged, and no other attempt is due.
        if (ctx.outcome !== undefined) return served();
        const error = io.attemptError(kind, err, ctx);
        if (policy && !sentAny && !settled) {
          return failed({ status: started ? ctx.upstreamStatus : -1, code: error.code, message: error.message, retryAfterMs: undefined, kind: 'retryable', error });
        }
        if (started) {
          ctx.endedAt = performance.now();
          if (kind === 'timeout') ctx.errorCode = 'sightline_upstream_timeout';
          io.complete(ctx, 'upstream_cut', () => res.destroy());
          return;
        }
        io.answerWithError(ctx, res, error);
      },
    });

    function finishWhole(): void {
      const body = bufferedBytes === 0 ? Buffer.alloc(0) : Buffer.concat(buffered, bufferedBytes);
      buffered = [];
      const status = ctx.upstreamStatus;
      const headers = clientHeaders(upstreamHeaders);
      delete headers['content-length'];
      if (mode === 'decide') {
        const failure = policy!.decide(status, upstreamHeaders, body);
        if (failure !== undefined) {
          ctx.endedAt = performance.now();
          return failed({ ...failure, answer: { status, headers, body } });
        }
        if (translation === undefined) return answerWhole(status, headers, body);
        const translated = translation.error(status, parseOrText(body));
        return answerWhole(translated.status, { ...headers, ...translated.headers, 'content-type': 'application/json' }, Buffer.from(JSON.stringify(translated.body)));
      }
      let answer: Buffer;
      try {
        answer = Buffer.from(JSON.stringify(translation!.response(JSON.parse(body.toString('utf8')))));
      } catch (err) {
        const why = err instanceof TranslationError ? err : new TranslationError('sightline_untranslatable', 'body', `The upstream's response could not be translated: ${(err as Error).message}`, 502);
        ctx.errorCode = why.code;
        return answerWhole(502, { 'content-type': 'application/json', 'sightline-id': ctx.requestId }, renderedError(ctx, why));
      }
      delete headers['content-encoding'];
      answerWhole(status, { ...headers, 'content-type': 'application/json' }, answer);
    }
  });
}

function renderedError(ctx: RequestCtx, err: TranslationError): Buffer {
  return Buffer.from(JSON.stringify((ctx.errorShape ?? ctx.adapter)!.renderError(err.toRender())));
}

/** A response body as JSON when it is JSON, else as text (translation reads either). */
function parseOrText(body: Buffer): unknown {
  const text = body.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export function headerString(v: IncomingHttpHeaders[string]): string {
  return v === undefined ? '' : Array.isArray(v) ? v.join(', ') : v;
}

/** retry-after-ms (OpenAI, Anthropic) or retry-after in seconds or as an HTTP date, in ms; undefined when absent. */
export function retryAfterMs(headers: IncomingHttpHeaders, now = Date.now()): number | undefined {
  const ms = Number(headerString(headers['retry-after-ms']));
  if (headerString(headers['retry-after-ms']) !== '' && Number.isFinite(ms) && ms >= 0) return ms;
  const raw = headerString(headers['retry-after']);
  if (raw === '') return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export type { StreamTranslator };
