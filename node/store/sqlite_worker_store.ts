/**
 * MessageStore on SQLite with the commit off the host's event loop: a worker thread
 * (./sqlite_worker.ts) owns the write connection, and `commit(ops)` is one message to
 * it (the batch as one JSON string) and one answer back. The fsync (~1 ms per commit
 * on this box, 27 % of the main loop's wall time at 2,000 msg/s before) now blocks
 * only that thread.
 *
 * Reads (`reads: 'main'`, the default for a file) run on a second connection in the
 * host's thread: WAL lets a reader run beside the writer without waiting, a point read
 * costs ~15 µs there (bench one-node: findByClientMsgId 0.015 ms), and a round trip to
 * the worker would cost more CPU than that on both threads. A commit is answered only
 * after its transaction committed, so a read started after `commit` resolved sees it
 * (read-your-writes holds). `reads: 'worker'` sends reads to the worker too (':memory:'
 * has no second connection, so it always does).
 *
 * Commits may be pipelined (several posted before the first is answered): the worker
 * applies them in the order posted, and after a failed one refuses those posted behind
 * it until this handle has seen the failure and posted `resume`, so a pipelined batch
 * never commits over a failed one's hole (the batch writer's fail-queued, kept).
 *
 * Failure: if the worker exits unexpectedly, every commit not yet answered rejects
 * with StoreUnavailableError (durability unknown: ops are idempotent and the client
 * resends), later calls reject the same way, and `onExit` runs: the host's store
 * child passes it to its supervisor, which restarts the store (node/host/host.ts).
 */
import { Worker } from 'node:worker_threads';
import type { MessageStore } from './store.js';
import type { Conversation, DeviceCursor, LastSeen, StoredMessage, WriteOp } from './types.js';
import { SqliteStore } from './sqlite_store.js';
import { StoreUnavailableError } from './errors.js';
import { fromWire, type FromStoreWorker, type ReadCall, type SqliteWorkerData, type ToStoreWorker } from './sqlite_worker_messages.js';

export interface SqliteWorkerStoreOptions {
  /** See SqliteStoreOptions.busyTimeoutMs (the write connection's, in the worker). */
  busyTimeoutMs?: number;
  /** See SqliteStoreOptions.walAutocheckpointPages (the writer's, in the worker). */
  walAutocheckpointPages?: number;
  /** Where reads run; see the module doc. Default 'main' (forced to 'worker' for ':memory:'). */
  reads?: 'main' | 'worker';
  /** The worker died without being closed (not called after `close()`). */
  onExit?: (err: Error) => void;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  commit: boolean;
}

// TypeScript entries start through the boot that registers tsx in the thread (as
// supervisor/thread_child.ts does); a compiled build starts the .js directly.
const IS_TS = import.meta.url.endsWith('.ts');
const BOOT_URL = new URL('../../supervisor/ts_worker_boot.mjs', import.meta.url);
const ENTRY_URL = new URL(IS_TS ? './sqlite_worker.ts' : './sqlite_worker.js', import.meta.url);

export class SqliteWorkerStore implements MessageStore {
  readonly kind = 'sqlite';
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private reader: SqliteStore | null = null;
  private dead: Error | null = null;
  private closing: Promise<void> | null = null;

  private constructor(
    readonly path: string,
    private readonly worker: Worker,
    private readonly onExit: ((err: Error) => void) | undefined,
  ) {}

  /** Start the worker, wait until it opened (and migrated) the store, then open the reader. */
  static async open(path: string, options: SqliteWorkerStoreOptions = {}): Promise<SqliteWorkerStore> {
    const data: SqliteWorkerData = { path, busyTimeoutMs: options.busyTimeoutMs, walAutocheckpointPages: options.walAutocheckpointPages };
    const worker = new Worker(IS_TS ? BOOT_URL : ENTRY_URL, {
      name: 'sqlite-store',
      workerData: IS_TS ? { ...data, __entry: ENTRY_URL.href } : data,
    });
    const store = new SqliteWorkerStore(path, worker, options.onExit);
    await new Promise<void>((resolve, reject) => {
      const first = (m: FromStoreWorker): void => {
        if (m.t === 'ready') resolve();
        else if (m.t === 'open_failed') reject(fromWire(m.error));
        else return;
        worker.off('message', first);
        worker.off('exit', early);
      };
      const early = (code: number): void => reject(new StoreUnavailableError(`sqlite store worker for ${path} exited (code ${code}) before it was ready`));
      worker.on('message', first);
      worker.once('exit', early);
    });
    store.wire();
    if (path !== ':memory:' && options.reads !== 'worker') {
      try {
        store.reader = new SqliteStore(path, { busyTimeoutMs: options.busyTimeoutMs, readOnly: true });
      } catch (err) {
        await store.close();
        throw err;
      }
    }
    return store;
  }

  commit(ops: WriteOp[]): Promise<void> {
    if (ops.length === 0) return this.dead ? Promise.reject(this.dead) : Promise.resolve();
    return this.call({ t: 'commit', id: 0, ops: JSON.stringify(ops) }) as Promise<void>;
  }

  getConversation(id: string): Promise<Conversation | null> {
    return this.read('getConversation', [id]) as Promise<Conversation | null>;
  }
  listUserConversations(user: string): Promise<string[]> {
    return this.read('listUserConversations', [user]) as Promise<string[]>;
  }
  lastSeq(conversation: string): Promise<number> {
    return this.read('lastSeq', [conversation]) as Promise<number>;
  }
  firstSeq(conversation: string): Promise<number> {
    return this.read('firstSeq', [conversation]) as Promise<number>;
  }
  findByClientMsgId(conversation: string, sender: string, clientMsgId: string): Promise<StoredMessage | null> {
    return this.read('findByClientMsgId', [conversation, sender, clientMsgId]) as Promise<StoredMessage | null>;
  }
  readAfter(conversation: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    return this.read('readAfter', [conversation, afterSeq, limit]) as Promise<StoredMessage[]>;
  }
  readBefore(conversation: string, beforeSeq: number, limit: number): Promise<StoredMessage[]> {
    return this.read('readBefore', [conversation, beforeSeq, limit]) as Promise<StoredMessage[]>;
  }
  getCursors(conversation: string): Promise<DeviceCursor[]> {
    return this.read('getCursors', [conversation]) as Promise<DeviceCursor[]>;
  }
  getPresence(users: string[]): Promise<LastSeen[]> {
    return this.read('getPresence', [users]) as Promise<LastSeen[]>;
  }

  /** Close the reader, let the worker finish what was posted, close its database and exit. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const reader = this.reader;
      this.reader = null;
      await reader?.close();
      if (this.dead) return;
      const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
      this.dead = new StoreUnavailableError(`sqlite store ${this.path} is closed`);
      this.post({ t: 'close' });
      await exited;
    })();
    return this.closing;
  }

  /** Test hook: end the worker abruptly, as a crash would. */
  async abortWorker(): Promise<void> {
    await this.worker.terminate();
  }

  private read(call: ReadCall, args: unknown[]): Promise<unknown> {
    const reader = this.reader;
    if (reader) return (reader[call] as (...a: unknown[]) => Promise<unknown>).apply(reader, args);
    return this.call({ t: 'read', id: 0, call, args });
  }

  private call(m: Extract<ToStoreWorker, { id: number }>): Promise<unknown> {
    if (this.dead) return Promise.reject(this.dead);
    m.id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(m.id, { resolve, reject, commit: m.t === 'commit' });
      this.post(m);
    });
  }

  private post(m: ToStoreWorker): void {
    try {
      this.worker.postMessage(m);
    } catch {
      // The worker is gone; its exit handler fails what is pending.
    }
  }

  private wire(): void {
    this.worker.on('message', (m: FromStoreWorker) => {
      if (m.t !== 'ok' && m.t !== 'failed') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.t === 'ok') {
        p.resolve(m.value);
        return;
      }
      // Posted before the reject settles anything: every commit already posted is refused
      // (it was pipelined behind this one), every commit posted from now on is tried. A
      // refusal owes no resume: one sent for it could cancel the refusing that a later,
      // real failure started before this handle saw it.
      if (p.commit && !m.refused) this.post({ t: 'resume' });
      p.reject(fromWire(m.error));
    });
    let lastError: Error | undefined;
    this.worker.on('error', (err) => (lastError = err));
    this.worker.on('exit', (code) => {
      const expected = this.dead !== null && this.pending.size === 0;
      const err = new StoreUnavailableError(
        `sqlite store worker for ${this.path} exited (code ${code}${lastError ? `: ${lastError.message}` : ''}); commits not yet answered may or may not be durable`,
        { cause: lastError },
      );
      this.dead ??= err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      if (!expected && !this.closing) {
        const reader = this.reader;
        this.reader = null;
        void reader?.close();
        this.onExit?.(err);
      }
    });
  }
}
