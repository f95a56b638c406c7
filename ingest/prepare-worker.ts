// A thread of ingest/prepare-pool.ts: decodes, assembles, redacts and encodes batches with the same code the
// ingest thread runs (createPreparer), configured from the Config it was started with.
import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../config/index.ts';
import { assembleDepsFromConfig, createPreparer, redactorFromConfig } from './pipeline.ts';
import type { PrepareReply, PrepareRequest } from './prepare-pool.ts';
import { createEncoder } from './writer.ts';

const config = (workerData as { config: Config }).config;
const prepare = createPreparer({
  encoder: () => createEncoder(config.ingest.batch_max_rows),
  redact: redactorFromConfig(config.redaction),
  maxEventBytes: config.ingest.max_event_bytes,
  assemble: assembleDepsFromConfig(config),
});

parentPort!.on('message', (req: PrepareRequest) => {
  let reply: PrepareReply;
  const transfer: ArrayBuffer[] = [];
  try {
    const data = Buffer.from(req.data.buffer, req.data.byteOffset, req.data.byteLength);
    const raw: Buffer[] = [];
    for (let i = 0, from = 0; i < req.ends.length; from = req.ends[i]!, i++) raw.push(data.subarray(from, req.ends[i]));
    const batch = prepare(raw);
    const inserts = batch.inserts.map((ins) => {
      transfer.push(ins.body.buffer as ArrayBuffer);
      return { body: ins.body, token: ins.token, rows: ins.rows };
    });
    // A letter's raw bytes are a view of the request's buffer: copied, or the whole buffer would be cloned per letter.
    const letters = batch.letters.map((l) => ({ reason: l.reason, detail: l.detail, raw: new Uint8Array(l.raw) }));
    reply = { id: req.id, inserts, letters };
  } catch (err) {
    reply = { id: req.id, error: err instanceof Error ? err.message : String(err) };
  }
  parentPort!.postMessage(reply, transfer);
});
