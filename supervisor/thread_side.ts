/**
 * The thread's half of the supervision protocol, for code running inside a worker
 * started by thread_child.ts. Answers heartbeats, runs `onStop` on a stop request and
 * then closes the parent port so the thread can end by itself, and can say `ready`.
 *
 *     const sup = serveSupervisor({ onStop: async () => { closeAllSockets(); app.close(); } });
 *     app.listen(port, () => sup.ready());
 *
 * For a uWS shard, `onStop` must close every socket and the listen socket, and must not
 * throw: a thread that ends (by a throw, `process.exit` or `terminate()`) while it still
 * holds uWS sockets aborts the whole process.
 */
import { parentPort } from 'node:worker_threads';
import { isSupervisorToThread, type ThreadToSupervisor } from './thread_messages.js';

export interface ThreadSideOptions {
  /** Release everything within `deadlineMs` (may be `Infinity`). Called at most once. */
  onStop(deadlineMs: number): void | Promise<void>;
}

export interface ThreadSide {
  /** Tell the supervisor initialization is done (needed when the child uses `awaitReady`). */
  ready(): void;
}

export function serveSupervisor(options: ThreadSideOptions): ThreadSide {
  const port = parentPort;
  if (port === null) throw new Error('serveSupervisor: not running in a worker thread (parentPort is null)');
  const send = (message: ThreadToSupervisor) => port.postMessage(message);
  let stopping = false;

  port.on('message', (message: unknown) => {
    if (!isSupervisorToThread(message)) return;
    if (message.type === '$sup:ping') {
      send({ type: '$sup:pong', seq: message.seq });
      return;
    }
    if (stopping) return;
    stopping = true;
    // Once everything is released the open port is the last thing keeping the thread
    // alive; closing it lets the thread end with exit code 0.
    void Promise.resolve()
      .then(() => options.onStop(message.deadlineMs))
      .then(() => port.close());
  });

  return { ready: () => send({ type: '$sup:ready' }) };
}
