// A WebSocket provider for the realtime tests: speaks the OpenAI Realtime API's server events (session.created,
// response.created, output text/audio deltas, response.done with usage) over a real `ws` server, records every
// handshake and message byte for byte, and misbehaves on request through x-mock-* handshake headers (which the
// proxy passes through like any other non-Sightline header) or mock.* client events.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { RawData, WebSocket } from 'ws';
import { WebSocketServer } from 'ws';
import { listenOnLoopback } from './mock-upstream.ts';

export interface WsMessage {
  data: Buffer;
  binary: boolean;
}

export interface RealtimeConnection {
  url: string;
  headers: http.IncomingHttpHeaders;
  /** What the client's messages were when they arrived here. */
  received: WsMessage[];
  /** Every message this server sent, whole (fragmented ones joined). */
  sent: WsMessage[];
}

export interface RealtimeUpstream {
  url: string;
  /** Every handshake seen, answered or not. */
  handshakes: { url: string; headers: http.IncomingHttpHeaders }[];
  connections: RealtimeConnection[];
  close(): Promise<void>;
}

/** Usage of the two responses the mock alternates between: GA event names first, the beta names second. */
export const MOCK_USAGE = [
  {
    total_tokens: 253, input_tokens: 132, output_tokens: 121,
    input_token_details: { text_tokens: 119, audio_tokens: 13, image_tokens: 0, cached_tokens: 64, cached_tokens_details: { text_tokens: 64, audio_tokens: 0, image_tokens: 0 } },
    output_token_details: { text_tokens: 30, audio_tokens: 91 },
  },
  {
    total_tokens: 1350, input_tokens: 1200, output_tokens: 150,
    input_token_details: { text_tokens: 400, audio_tokens: 800, image_tokens: 0, cached_tokens: 1024, cached_tokens_details: { text_tokens: 384, audio_tokens: 640, image_tokens: 0 } },
    output_token_details: { text_tokens: 150, audio_tokens: 0 },
  },
] as const;
export const MOCK_TRANSCRIPTS = ['Hello there, how can I help?', 'Sure: the capital of France is Paris.'] as const;
/** The model session.created reports when the URL named one (the dated name behind the alias asked for)… */
export const MOCK_SESSION_MODEL = 'gpt-realtime-2025-08-28';
/** …and when it named none: the server's default. */
export const MOCK_DEFAULT_MODEL = 'gpt-4o-realtime-preview-2025-06-03';
/** Bytes of base64 audio in each audio delta: above 65535, so the frame needs a 64-bit length. */
const AUDIO_DELTA_BYTES = 96 * 1024;

const ERROR_BODY = (status: number) => JSON.stringify({ error: { message: `mock refused the handshake with ${status}`, type: 'invalid_request_error', code: status === 401 ? 'invalid_api_key' : 'model_not_found', param: null } });

export async function startRealtimeUpstream(): Promise<RealtimeUpstream> {
  const handshakes: RealtimeUpstream['handshakes'] = [];
  const connections: RealtimeConnection[] = [];
  const wss = new WebSocketServer({ noServer: true });
  const server = http.createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(ERROR_BODY(404));
  });

  // Upgraded sockets are the HTTP server's no longer: closing it must end them itself.
  const sockets = new Set<Duplex>();
  server.on('upgrade', (req, socket, head) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    handshakes.push({ url: req.url ?? '', headers: req.headers });
    const h = req.headers;
    if (h['x-mock-hang'] === 'true') return;
    const status = Number(h['x-mock-status'] ?? 0);
    if (status > 0) {
      const body = ERROR_BODY(status);
      const framing = h['x-mock-chunked'] === 'true'
        ? `transfer-encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`
        : `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\nx-request-id: req_mock\r\n${framing}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => serve(ws, req));
  });

  function serve(ws: WebSocket, req: http.IncomingMessage): void {
    const conn: RealtimeConnection = { url: req.url ?? '', headers: req.headers, received: [], sent: [] };
    connections.push(conn);
    const model = new URL(conn.url, 'http://mock').searchParams.has('model') ? MOCK_SESSION_MODEL : MOCK_DEFAULT_MODEL;
    const send = (event: unknown, fragments = 1) => {
      const data = Buffer.from(JSON.stringify(event));
      conn.sent.push({ data, binary: false });
      const step = Math.ceil(data.length / fragments);
      for (let off = 0; off < data.length; off += step) ws.send(data.subarray(off, off + step), { binary: false, fin: off + step >= data.length });
    };
    let responses = 0;
    let eventId = 0;
    const id = () => `event_${++eventId}`;

    send({ type: 'session.created', event_id: id(), session: { type: 'realtime', object: 'realtime.session', id: 'sess_mock', model, output_modalities: ['audio'], instructions: 'Be brief.' } });

    ws.on('message', (raw: RawData, binary: boolean) => {
      const data = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw as Buffer);
      conn.received.push({ data, binary });
      if (binary) {
        conn.sent.push({ data, binary: true });
        ws.send(data, { binary: true });
        return;
      }
      let event: { type?: string; code?: number; reason?: string };
      try {
        event = JSON.parse(data.toString('utf8')) as typeof event;
      } catch {
        return;
      }
      if (event.type === 'mock.close') ws.close(event.code, event.reason);
      else if (event.type === 'mock.reset') ws.terminate();
      else if (event.type === 'response.create') respond(responses++ % 2 === 0 ? 0 : 1);
    });

    /** One response: GA event names (output_audio) for the first kind, the beta names (audio, text) for the second. */
    function respond(kind: 0 | 1): void {
      const responseId = `resp_${eventId}`;
      const itemId = `item_${eventId}`;
      const ga = kind === 0;
      send({ type: 'response.created', event_id: id(), response: { object: 'realtime.response', id: responseId, status: 'in_progress', output: [], usage: null } });
      const audio = Buffer.alloc((AUDIO_DELTA_BYTES * 3) / 4, kind + 1).toString('base64');
      send({ type: ga ? 'response.output_audio.delta' : 'response.audio.delta', event_id: id(), response_id: responseId, item_id: itemId, output_index: 0, content_index: 0, delta: audio });
      send({ type: ga ? 'response.output_audio_transcript.delta' : 'response.text.delta', event_id: id(), response_id: responseId, item_id: itemId, output_index: 0, content_index: 0, delta: MOCK_TRANSCRIPTS[kind] });
      const part = ga ? { type: 'output_audio', transcript: MOCK_TRANSCRIPTS[kind] } : { type: 'text', text: MOCK_TRANSCRIPTS[kind] };
      // Sent in three frames: the proxy must reassemble a fragmented message before it can read it.
      send({
        type: 'response.done', event_id: id(),
        response: {
          object: 'realtime.response', id: responseId, status: 'completed', status_details: null,
          output: [{ id: itemId, object: 'realtime.item', type: 'message', status: 'completed', role: 'assistant', content: [part] }],
          usage: MOCK_USAGE[kind],
        },
      }, 3);
    }
  }

  const { url, close } = await listenOnLoopback(server);
  return {
    url,
    handshakes,
    connections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      wss.close();
      await close();
    },
  };
}
