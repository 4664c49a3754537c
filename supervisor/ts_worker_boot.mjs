// Bootstrap for worker threads whose entry is TypeScript. `--import tsx` is not
// inherited by worker threads on Node 20, so register tsx here, then load the entry
// (a file URL passed by thread_child.ts as workerData.__entry).
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
// SB_THREAD_PRELOAD: a module to load first, as `--import` does for the main thread
// (Node 20 runs no --import preload in workers). Only the benchmarks set it (their
// per-thread probe: benchmarks/lib/thread_probe.mjs); unset, nothing happens.
if (process.env.SB_THREAD_PRELOAD) await import(process.env.SB_THREAD_PRELOAD);
await import(workerData.__entry);
