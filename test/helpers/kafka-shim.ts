// A TCP proxy in front of a Kafka 0.9.0.1 broker that answers ApiVersions (api key 18) itself.
// Why: 0.9 predates ApiVersions; kafkajs 2.x sends it first on every connection and the broker
// drops the request (ArrayIndexOutOfBounds), so kafkajs waits 30 s and gives up. Every other
// request is forwarded byte for byte. The broker must advertise this proxy's port, or kafkajs
// reaches the broker directly for partition leaders and the group coordinator.
import net from 'node:net';

const API_VERSIONS_KEY = 18;
const UNSUPPORTED_VERSION = 35;

/** [api key, min version, max version] as served by Kafka 0.9.0.1 (read from its jar). */
const BROKER_0_9_APIS: ReadonlyArray<readonly [number, number, number]> = [
  [0, 0, 1], [1, 0, 1], [2, 0, 0], [3, 0, 0], [4, 0, 0], [5, 0, 0], [6, 0, 1], [7, 0, 1],
  [8, 0, 2], [9, 0, 1], [10, 0, 0], [11, 0, 0], [12, 0, 0], [13, 0, 0], [14, 0, 0], [15, 0, 0], [16, 0, 0],
];

export interface ApiVersionsShim {
  readonly port: number;
  close(): Promise<void>;
}

/** Builds the ApiVersions response frame (size prefix included) for the version the client asked for. */
export function apiVersionsResponse(correlationId: number, requestVersion: number): Buffer {
  const supported = requestVersion <= 2;
  const apis = supported ? BROKER_0_9_APIS : [];
  const withThrottle = requestVersion >= 1;
  const bodyLength = 4 + 2 + 4 + apis.length * 6 + (withThrottle ? 4 : 0);
  const out = Buffer.alloc(4 + bodyLength);
  let at = out.writeInt32BE(bodyLength, 0);
  at = out.writeInt32BE(correlationId, at);
  at = out.writeInt16BE(supported ? 0 : UNSUPPORTED_VERSION, at);
  at = out.writeInt32BE(apis.length, at);
  for (const [key, min, max] of apis) {
    at = out.writeInt16BE(key, at);
    at = out.writeInt16BE(min, at);
    at = out.writeInt16BE(max, at);
  }
  if (withThrottle) out.writeInt32BE(0, at);
  return out;
}

/**
 * Splits a byte stream into whole size-prefixed frames. Both directions are framed so that a
 * locally answered ApiVersions never lands in the middle of a forwarded broker response.
 */
function frameReader(onFrame: (frame: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const total = 4 + pending.readInt32BE(0);
      if (pending.length < total) break;
      onFrame(pending.subarray(0, total));
      pending = pending.subarray(total);
    }
  };
}

/**
 * Listens on 127.0.0.1 (port 0 = any free port) and forwards to the broker at target. A client
 * connection is only served once its broker connection is up, so a dead broker looks dead to the
 * client (connection closed) instead of half alive (ApiVersions answered, everything else lost).
 */
export async function startApiVersionsShim(target: { host: string; port: number }, listenPort = 0): Promise<ApiVersionsShim> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const broker = net.connect(target.port, target.host);
    sockets.add(client);
    sockets.add(broker);
    client.setNoDelay(true);
    broker.setNoDelay(true);
    const closeBoth = () => {
      client.destroy();
      broker.destroy();
      sockets.delete(client);
      sockets.delete(broker);
    };
    client.on('error', closeBoth).on('close', closeBoth);
    broker.on('error', closeBoth).on('close', closeBoth);

    const fromClient = frameReader((frame) => {
      if (frame.length >= 12 && frame.readInt16BE(4) === API_VERSIONS_KEY) {
        client.write(apiVersionsResponse(frame.readInt32BE(8), frame.readInt16BE(6)));
      } else {
        broker.write(frame);
      }
    });
    client.pause();
    client.on('data', fromClient);
    broker.once('connect', () => client.resume());
    broker.on('data', frameReader((frame) => client.write(frame)));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('kafka shim: no TCP address after listen');

  return {
    port: address.port,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      sockets.clear();
      server.close(() => resolve());
    }),
  };
}
