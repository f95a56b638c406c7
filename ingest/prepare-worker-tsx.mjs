// Starts ingest/prepare-worker.ts from the TypeScript sources (tests, bin/run-ts.mjs): tsx's loader registered on
// the parent thread does not reach a worker thread, so the worker registers its own first.
import { register } from 'tsx/esm/api';

register();
await import('./prepare-worker.ts');
