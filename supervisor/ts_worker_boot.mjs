// Boots a worker thread whose entry is TypeScript: `--import tsx` is not inherited
// by workers on Node 20, so register tsx's loader here, then import the entry.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.__entry);
