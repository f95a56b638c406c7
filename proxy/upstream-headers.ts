// The caller's headers as they go upstream, shared by pass-through routes and gateway attempts.
import type { IncomingHttpHeaders } from 'node:http';
import { isOptInHeader } from './headers.ts';
import type { TraceContext } from './trace.ts';
import { traceparentOf } from './trace.ts';

/** Connection-level headers: never forwarded either way. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'trailers', 'transfer-encoding', 'upgrade']);
/** The headers a caller's provider key travels in (OpenAI and compatible, Anthropic, Azure, Gemini). */
export const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set(['authorization', 'x-api-key', 'api-key', 'x-goog-api-key']);

/** The caller's provider key (`Bearer` removed), which may be a virtual key standing in for it; undefined when none. */
export function providerCredential(headers: IncomingHttpHeaders): string | undefined {
  for (const name of CREDENTIAL_HEADERS) {
    const v = headers[name];
    if (typeof v === 'string' && v !== '') return name === 'authorization' ? v.replace(/^Bearer\s+/i, '') : v;
  }
  return undefined;
}
/** Request headers never copied upstream: hop-by-hop, and those the forwarder sets itself. */
const NOT_FORWARDED = new Set([...HOP_BY_HOP, 'host', 'content-length', 'expect']);

/**
 * The caller's headers for the upstream, as a flat list: Sightline's own and hop-by-hop ones removed (and any
 * `keep` refuses), and the caller's traceparent replaced by the call's own when it is traced (the proxy's span is
 * the upstream's parent). A trace the proxy started (no valid traceparent came) carries no tracestate of the
 * caller's: W3C Trace Context ties tracestate to the traceparent it came with. `identity` asks for an uncompressed
 * answer, for a body Sightline must read on the way (a usage frame to cut, a translation).
 */
export function upstreamHeaders(raw: readonly string[], identity: boolean, trace: TraceContext | undefined, keep?: (name: string) => boolean): string[] {
  const out: string[] = [];
  const started = trace !== undefined && trace.parentSpanId === '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (NOT_FORWARDED.has(name) || isOptInHeader(name)) continue;
    if (trace !== undefined && (name === 'traceparent' || (started && name === 'tracestate'))) continue;
    if (identity && name === 'accept-encoding') continue;
    if (keep !== undefined && !keep(name)) continue;
    out.push(name, raw[i + 1]!);
  }
  if (identity) out.push('accept-encoding', 'identity');
  if (trace !== undefined) out.push('traceparent', traceparentOf(trace));
  return out;
}
