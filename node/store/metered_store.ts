/**
 * A MessageStore that measures itself: every call's duration by call and outcome, and
 * the write ops committed by kind. The node wraps its store in it so /metrics shows
 * where the store's time goes (e.g. reads per message on the send path) without the
 * backends knowing about Prometheus.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { MessageStore } from './store.js';
import type { WriteOp } from './types.js';

/** The `call` label: every MessageStore method but close. */
type Call = Exclude<keyof MessageStore, 'kind' | 'close'>;

export class StoreMetrics {
  readonly calls: Histogram<'call' | 'outcome'>;
  readonly ops: Counter<'kind'>;
  /** Ops per successful commit: with the batch writer, one commit is one batch. */
  readonly batchOps: Histogram;

  constructor(registry: Registry) {
    this.calls = new Histogram({
      name: 'switchboard_store_call_seconds',
      help: 'Store calls by call (commit or a read) and outcome (ok, error), seconds',
      labelNames: ['call', 'outcome'],
      // From a memtable read (~0.2 ms) to a commit waiting out a retry backoff (~s).
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });
    this.ops = new Counter({ name: 'switchboard_store_ops_committed_total', help: 'Write ops made durable, by kind', labelNames: ['kind'], registers: [registry] });
    this.batchOps = new Histogram({
      name: 'switchboard_store_commit_ops',
      help: 'Write ops per successful store commit (the batch writer commits one batch per call)',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
      registers: [registry],
    });
  }
}

export function meteredStore(store: MessageStore, m: StoreMetrics): MessageStore {
  const timed =
    <A extends unknown[], R>(call: Call, fn: (...a: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const end = m.calls.startTimer({ call });
      try {
        const r = await fn(...args);
        end({ outcome: 'ok' });
        return r;
      } catch (e) {
        end({ outcome: 'error' });
        throw e;
      }
    };
  const commit = timed('commit', (ops: WriteOp[]) => store.commit(ops));
  return {
    kind: store.kind,
    commit: async (ops) => {
      await commit(ops);
      m.batchOps.observe(ops.length);
      for (const op of ops) m.ops.inc({ kind: op.kind });
    },
    getConversation: timed('getConversation', (id: string) => store.getConversation(id)),
    listUserConversations: timed('listUserConversations', (user: string) => store.listUserConversations(user)),
    lastSeq: timed('lastSeq', (c: string) => store.lastSeq(c)),
    firstSeq: timed('firstSeq', (c: string) => store.firstSeq(c)),
    findByClientMsgId: timed('findByClientMsgId', (c: string, s: string, id: string) => store.findByClientMsgId(c, s, id)),
    readAfter: timed('readAfter', (c: string, after: number, limit: number) => store.readAfter(c, after, limit)),
    readBefore: timed('readBefore', (c: string, before: number, limit: number) => store.readBefore(c, before, limit)),
    getCursors: timed('getCursors', (c: string) => store.getCursors(c)),
    getPresence: timed('getPresence', (users: string[]) => store.getPresence(users)),
    close: () => store.close(),
  };
}
