// Bootstrap for worker threads whose entry is TypeScript. `--import tsx` is not
// inherited by worker threads on Node 20, so register tsx here, then load the entry
// (a file URL passed by thread_child.ts as workerData.__entry).
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.__entry);
