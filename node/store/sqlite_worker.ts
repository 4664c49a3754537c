/**
 * The SQLite store's own thread: it owns the write connection (./sqlite_store.ts) and
 * runs every commit, so the fsync of a commit blocks this thread, never the host's
 * event loop. The host's handle is ./sqlite_worker_store.ts; messages in
 * ./sqlite_worker_messages.ts. Requests are served in arrival order, one at a time
 * (better-sqlite3 is synchronous), so commits land in the order they were posted, and
 * after a failed commit those posted behind it are refused until the host says `resume`:
 * the host may pipeline commits (store.batch.concurrency) without losing fail-queued.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteStore } from './sqlite_store.js';
import type { MessageStore } from './store.js';
import type { WriteOp } from './types.js';
import { toWire, type FromStoreWorker, type SqliteWorkerData, type ToStoreWorker } from './sqlite_worker_messages.js';

const port = parentPort;
if (!port) throw new Error('sqlite_worker.ts runs only as a worker thread (node/store/sqlite_worker_store.ts)');
const data = workerData as SqliteWorkerData;
const post = (m: FromStoreWorker): void => port.postMessage(m);

// Test-only, inert unless set (node/e2e/store_worker.test.ts): the thread ends right after
// the commit holding this client_msg_id is durable, before it is answered, as a crash would.
const exitAfter = /^exit_after_commit:(.+)$/.exec(process.env.SWITCHBOARD_TEST_STORE_WORKER_FAULT ?? '')?.[1];

let store: SqliteStore;
try {
  store = new SqliteStore(data.path, { busyTimeoutMs: data.busyTimeoutMs, walAutocheckpointPages: data.walAutocheckpointPages });
  post({ t: 'ready' });
} catch (err) {
  post({ t: 'open_failed', error: toWire(err) });
  process.exit(1);
}

/** A commit failed and the host has not answered with `resume` yet: refuse commits. */
let refusing: string | null = null;

port.on('message', (m: ToStoreWorker) => {
  switch (m.t) {
    case 'resume':
      refusing = null;
      return;
    case 'commit': {
      if (refusing !== null) {
        post({ t: 'failed', id: m.id, refused: true, error: { name: 'StoreUnavailableError', message: `not attempted: an earlier store batch failed (${refusing})` } });
        return;
      }
      // SqliteStore.commit does its work synchronously; the promise only carries the outcome.
      const ops = JSON.parse(m.ops) as WriteOp[];
      store.commit(ops).then(
        () => {
          if (exitAfter && ops.some((o) => o.kind === 'message' && o.message.clientMsgId === exitAfter)) process.exit(1);
          post({ t: 'ok', id: m.id });
        },
        (err: unknown) => {
          refusing = err instanceof Error ? err.message : String(err);
          post({ t: 'failed', id: m.id, error: toWire(err) });
        },
      );
      return;
    }
    case 'read': {
      const fn = (store as MessageStore)[m.call] as (...a: unknown[]) => Promise<unknown>;
      let p: Promise<unknown>;
      try {
        p = fn.apply(store, m.args);
      } catch (err) {
        p = Promise.reject(err);
      }
      p.then(
        (value) => post({ t: 'ok', id: m.id, value }),
        (err: unknown) => post({ t: 'failed', id: m.id, error: toWire(err) }),
      );
      return;
    }
    case 'close':
      void store.close().then(() => {
        post({ t: 'closed' });
        port.close();
      });
      return;
  }
});
