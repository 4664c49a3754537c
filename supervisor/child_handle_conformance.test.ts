/** The ChildHandle conformance suite against every adapter and the test fake. */
import type { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { childHandleConformance } from './child_handle_conformance.js';
import { FakeChild, FakeWorld } from './fake_child.js';
import { serviceChild, type ServiceContext } from './service_child.js';
import { threadChild } from './thread_child.js';
import { nodeProcessChild } from './process_child.js';

childHandleConformance('fake child', () => ({
  start: new FakeWorld().start('x'),
  crash: (handle) => (handle as FakeChild).crash(),
}));

childHandleConformance('service child', () => {
  let context: ServiceContext | undefined;
  return {
    start: serviceChild(() => ({
      start: async (ctx) => {
        context = ctx;
      },
      stop: async () => {},
    })),
    crash: () => context?.exit(new Error('service died')),
  };
});

childHandleConformance('thread child', () => {
  let worker: Worker | undefined;
  return {
    start: threadChild({
      entry: new URL('./fixtures/test_thread.ts', import.meta.url),
      awaitReady: true,
      onSpawn: (w) => {
        worker = w;
      },
    }),
    crash: () => worker?.postMessage({ cmd: 'crash' }),
  };
});

childHandleConformance('process child', () => ({
  start: nodeProcessChild(fileURLToPath(new URL('./fixtures/test_process.ts', import.meta.url)), ['stay'], {
    spawnOptions: { stdio: 'ignore' },
  }),
  // A signal the supervisor did not send is a crash.
  crash: (handle) => process.kill(handle.identity?.().pid ?? -1, 'SIGKILL'),
}));
