/**
 * A MessageStore that measures itself: every call's duration by call and outcome, and
 * the write ops committed by kind. The node wraps its store in it so /metrics shows
 * where the store's time goes (e.g. reads per message on the send path) without the
 * backends knowing about Prometheus.
 */
import { performance } from 'node:perf_hooks';
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

/**
 * Cheap on the hot path: the labelled series are looked up once (a labelled observe
 * hashes its labels on every call), each call costs one `then` (no async wrapper, no
 * second promise), and the ops counter is bumped once per kind per commit, not per op.
 */
export function meteredStore(store: MessageStore, m: StoreMetrics): MessageStore {
  const series = (call: Call) => ({ ok: m.calls.labels(call, 'ok'), error: m.calls.labels(call, 'error') });
  const timed = <R>(s: ReturnType<typeof series>, p: Promise<R>, t0: number): Promise<R> =>
    p.then(
      (r) => {
        s.ok.observe(seconds(t0));
        return r;
      },
      (e: unknown) => {
        s.error.observe(seconds(t0));
        throw e;
      },
    );
  /** Calls a store method, turning a synchronous throw into a rejection (as an async method would). */
  const run = <R>(s: ReturnType<typeof series>, fn: () => Promise<R>): Promise<R> => {
    const t0 = performance.now();
    let p: Promise<R>;
    try {
      p = fn();
    } catch (e) {
      p = Promise.reject(e);
    }
    return timed(s, p, t0);
  };
  const commitS = series('commit');
  const byKind = new Map<string, ReturnType<Counter<'kind'>['labels']>>();
  const counted = (ops: WriteOp[]): void => {
    m.batchOps.observe(ops.length);
    let kind = ops[0]?.kind;
    let n = 0;
    const flush = (): void => {
      if (!kind || n === 0) return;
      let c = byKind.get(kind);
      if (!c) byKind.set(kind, (c = m.ops.labels(kind)));
      c.inc(n);
    };
    for (const op of ops) {
      if (op.kind !== kind) {
        flush();
        kind = op.kind;
        n = 0;
      }
      n += 1;
    }
    flush();
  };
  const s = {
    getConversation: series('getConversation'),
    listUserConversations: series('listUserConversations'),
    lastSeq: series('lastSeq'),
    firstSeq: series('firstSeq'),
    findByClientMsgId: series('findByClientMsgId'),
    readAfter: series('readAfter'),
    readBefore: series('readBefore'),
    getCursors: series('getCursors'),
    getPresence: series('getPresence'),
  };
  return {
    kind: store.kind,
    commit: (ops) =>
      run(commitS, () => store.commit(ops)).then(() => counted(ops)),
    getConversation: (id) => run(s.getConversation, () => store.getConversation(id)),
    listUserConversations: (user) => run(s.listUserConversations, () => store.listUserConversations(user)),
    lastSeq: (c) => run(s.lastSeq, () => store.lastSeq(c)),
    firstSeq: (c) => run(s.firstSeq, () => store.firstSeq(c)),
    findByClientMsgId: (c, sender, id) => run(s.findByClientMsgId, () => store.findByClientMsgId(c, sender, id)),
    readAfter: (c, after, limit) => run(s.readAfter, () => store.readAfter(c, after, limit)),
    readBefore: (c, before, limit) => run(s.readBefore, () => store.readBefore(c, before, limit)),
    getCursors: (c) => run(s.getCursors, () => store.getCursors(c)),
    getPresence: (users) => run(s.getPresence, () => store.getPresence(users)),
    close: () => store.close(),
  };
}

function seconds(t0: number): number {
  return (performance.now() - t0) / 1000;
}
