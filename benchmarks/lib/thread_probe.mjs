// The benchmarks' probe inside the node under test. Loaded only when a bench asks for
// it: into the main thread by NODE_OPTIONS=--import, into every supervised worker
// thread by SB_THREAD_PRELOAD (supervisor/ts_worker_boot.mjs; Node 20 runs no --import
// preload in workers). Plain JS so it loads before tsx is registered.
//
// Each thread writes $SB_PROBE_DIR/thread-<tid>.json ({tid, role}) so the bench can
// name the rows of /proc/<pid>/task (every thread's comm is just "node" on Node 20).
// Commands: the bench writes one word to $SB_PROBE_DIR/command and sends SIGUSR2;
// the main thread relays it to every thread over a BroadcastChannel and each thread
// answers with a file done-<command>-<tid>:
//   gc              a full collection in every thread (needs --expose-gc); each thread
//                   then writes heap-<tid>.json (its heapUsed and external bytes)
//   profile-start   start the V8 sampling profiler in every thread (inspector Session)
//   profile-stop    stop it and write prof-<tid>.cpuprofile
import { readlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { isMainThread, workerData, BroadcastChannel } from 'node:worker_threads';
import { Session } from 'node:inspector';
import { getHeapStatistics } from 'node:v8';
import path from 'node:path';

const dir = process.env.SB_PROBE_DIR;
if (dir) {
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  const entry = workerData && typeof workerData.__entry === 'string' ? path.basename(new URL(workerData.__entry).pathname) : null;
  const keys = workerData && typeof workerData === 'object' ? Object.keys(workerData) : [];
  const role = isMainThread
    ? 'main'
    : entry === 'shard_main.ts' && typeof workerData.shard === 'number'
      ? `shard-${workerData.shard}`
      : entry
        ? entry.replace(/\.m?ts$/, '')
        : keys.includes('esbuildVersion')
          ? 'tsx-loader' // tsx's module hooks thread (one per register())
          : keys.length === 1 && keys[0] === 'auth'
            ? 'task-pool' // node/tasks/task_pool.ts (piscina)
            : keys.length ? `worker(${keys.join(',')})` : 'worker';
  // Only threads with an event loop of their own answer commands: the main thread and
  // the supervised ones (an __entry). tsx's hooks thread and piscina's pool threads
  // sleep in Atomics.wait between requests and would never see one, so they only name
  // themselves and the bench does not wait for them (and does not GC them).
  const answers = isMainThread || entry !== null;
  writeFileSync(path.join(dir, `thread-${tid}.json`), JSON.stringify({ tid, role, answers }));
  const done = (cmd) => writeFileSync(path.join(dir, `done-${cmd}-${tid}`), '');
  let session = null;
  const handle = (cmd) => {
    if (cmd === 'gc') {
      globalThis.gc?.();
      // This thread's own heap after the collection (heapUsed is per isolate; external
      // and arrayBuffers are what V8 was told of): the bench splits memory per thread.
      const m = process.memoryUsage();
      // physical: the heap's pages backed by memory (in RSS); physical - used is V8's free
      // heap in RSS, which the bench subtracts (it moves with GC, not with connections).
      const h = getHeapStatistics();
      writeFileSync(path.join(dir, `heap-${tid}.json`), JSON.stringify({ heapUsed: m.heapUsed, external: m.external, physical: h.total_physical_size, used: h.used_heap_size }));
      done(cmd);
    } else if (cmd === 'profile-start' && !session) {
      session = new Session();
      session.connect();
      // 1 ms sampling (V8's default): enough samples in a 10-20 s window for a top list.
      session.post('Profiler.enable', () => session.post('Profiler.setSamplingInterval', { interval: 1000 }, () => session.post('Profiler.start', () => done(cmd))));
    } else if (cmd === 'profile-stop' && session) {
      const s = session;
      session = null;
      s.post('Profiler.stop', (err, res) => {
        if (!err) writeFileSync(path.join(dir, `prof-${tid}.cpuprofile`), JSON.stringify(res.profile));
        s.disconnect();
        done(cmd);
      });
    }
  };
  const bc = answers ? new BroadcastChannel('sb-bench-probe') : null;
  if (bc) {
    bc.onmessage = (e) => handle(e.data);
    bc.unref();
  }
  if (isMainThread && bc) {
    process.on('SIGUSR2', () => {
      const cmd = readFileSync(path.join(dir, 'command'), 'utf8').trim();
      bc.postMessage(cmd);
      handle(cmd);
    });
  }
}
