/**
 * The fork of issue 12, reduced to a deterministic test with the real ChatService,
 * BatchWriter and SqliteStore and a cluster whose ownership epoch the test moves:
 *
 *   1. sends do their dedup read; meanwhile the lease is lost and the cached state of
 *      the conversation is forgotten (and another owner writes seq 2);
 *   2. the sends reload the conversation while the shard is not owned;
 *   3. the node claims the shard back (a newer epoch) during that reload;
 *   4. every write asks only "do I own the shard now?".
 *
 * Before the sequencer (node/core/sequencer.ts) every send incremented its own private
 * copy from the same last seq and every one was acked with the same seq. The writer
 * here applies the host's fence rule (node/cluster/cluster_node.ts claimOf + the
 * commit check): a write carries an epoch and is refused unless that is the current one.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteStore } from '../store/sqlite_store.js';
import { BatchWriter } from '../store/batch_writer.js';
import type { StoredMessage, WriteOp } from '../store/types.js';
import { ChatService, type Caller, type Outbox, type ServiceLimits, type Writer } from './chat_service.js';
import { CatalogError } from '../../protocol/errors.js';
import { LocalFanout } from './local_fanout.js';
import { ConnectionRegistry } from './registry.js';
import { HookedStore } from './hooked_store.js';
import type { SendAck } from './ops.js';

const LIMITS: ServiceLimits = { maxMessageBytes: 1000, defaultSyncPage: 50, maxSyncPage: 100, maxHistoryPage: 50, maxConversationMembers: 10, retentionMessages: 0 };
const outbox: Outbox = { deliver() {}, receipts() {} };

/** A gate: `wait()` blocks until `open()`; `waiting` counts who is blocked. */
class Gate {
  waiting = 0;
  private release: (() => void) | null = null;
  private readonly opened: Promise<void>;
  constructor() {
    this.opened = new Promise((r) => (this.release = r));
  }
  async wait(): Promise<void> {
    this.waiting++;
    await this.opened;
  }
  open(): void {
    this.release?.();
  }
}

function conversationOf(op: WriteOp): string | null {
  switch (op.kind) {
    case 'message': return op.message.conversation;
    case 'cursor': return op.cursor.conversation;
    case 'conversation': return op.conversation.id;
    case 'presence': return null;
    default: return op.conversation;
  }
}

/** One cluster node's view: the epoch it holds for the (single) shard, or null. */
function setup() {
  const sqlite = new SqliteStore(':memory:');
  const store = new HookedStore(sqlite);
  const node = { epoch: 5 as number | null };
  const fenced: string[] = [];
  let svc: ChatService | null = null;
  // The host's writer: each op carries the epoch it was sequenced under (default: the
  // current one, taken at submit); the commit is refused unless it is still current.
  const inner = new BatchWriter<{ op: WriteOp; epoch: number | null }>(
    async (items) => {
      await store.beforeCommit(items.map((i) => i.op));
      const stale = items.find((i) => conversationOf(i.op) !== null && i.epoch !== node.epoch);
      try {
        if (stale) throw new CatalogError('unavailable', `write refused: epoch ${stale.epoch} is not current (${node.epoch}); retry`, 250);
        await sqlite.commit(items.map((i) => i.op));
      } catch (e) {
        if (stale) fenced.push(...items.filter((i) => i.op.kind === 'message').map((i) => (i.op.kind === 'message' ? i.op.message.clientMsgId : '')));
        svc?.writeFailed();
        throw e;
      }
    },
    { maxDelayMs: 1 },
  );
  const claim = (op: WriteOp, epoch?: number): { op: WriteOp; epoch: number | null } => {
    if (conversationOf(op) === null) return { op, epoch: null };
    if (node.epoch === null) throw new CatalogError('unavailable', 'not the owner; retry', 250);
    if (epoch !== undefined && epoch !== node.epoch) throw new CatalogError('unavailable', 'sequenced under another epoch; retry', 250);
    return { op, epoch: epoch ?? node.epoch };
  };
  const writer: Writer = {
    submit: (op, epoch) => {
      try {
        return inner.submit(claim(op, epoch));
      } catch (e) {
        return Promise.reject(e as Error);
      }
    },
    submitMany: (ops, epoch) => {
      try {
        return inner.submitMany(ops.map((op) => claim(op, epoch)));
      } catch (e) {
        return Promise.reject(e as Error);
      }
    },
    room: () => inner.room(),
  };
  const registry = new ConnectionRegistry();
  // In a cell: this node owns the conversations while node.epoch is set.
  svc = new ChatService({ store, writer, registry, fanout: new LocalFanout(registry, outbox), ownership: { epochOf: () => node.epoch }, limits: LIMITS });
  /** What ClusterNode does on a lost or acquired shard. */
  const move = (epoch: number | null): void => {
    node.epoch = epoch;
    svc!.forget(() => true);
  };
  return { sqlite, store, svc, node, move, inner, fenced };
}

const caller = (user: string): Caller => ({ user, device: 'phone', conn: null });

type Outcome = { user: string; id: string; ack?: SendAck; error?: string };

async function settle(user: string, id: string, p: Promise<SendAck>): Promise<Outcome> {
  try {
    return { user, id, ack: await p };
  } catch (e) {
    return { user, id, error: codeOf(e) };
  }
}

/** The catalog code a client would get (CatalogError and the store's errors carry one). */
function codeOf(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' ? code : String(e);
}

/** The promise: no two acks share a seq, and every acked message is stored at its acked seq. */
async function checkAcks(sqlite: SqliteStore, conversation: string, acks: SendAck[]): Promise<void> {
  const stored = new Map((await sqlite.readAfter(conversation, 0, 100_000)).map((m) => [m.seq, m]));
  const bySeq = new Map<number, SendAck>();
  for (const a of acks) {
    const other = bySeq.get(a.seq);
    assert.ok(!other || other.messageId === a.messageId, `seq ${a.seq} acked to two messages: ${other?.clientMsgId} and ${a.clientMsgId}`);
    bySeq.set(a.seq, a);
    const m = stored.get(a.seq);
    assert.equal(m?.messageId, a.messageId, `acked ${a.clientMsgId} at seq ${a.seq}, but the store holds ${m ? m.clientMsgId : 'nothing'} there`);
  }
  const seqs = [...stored.keys()].sort((a, b) => a - b);
  assert.deepEqual(seqs, seqs.map((_, i) => i + 1), 'stored seqs are gapless');
}

function otherOwnerMessage(conversation: string, seq: number): StoredMessage {
  return { conversation, seq, messageId: `other-owner-${seq}`, sender: 'alice', senderDevice: 'laptop', clientMsgId: `other-${seq}`, body: 'written by the owner in between', meta: {}, serverTs: 1 };
}

describe('sequencing under lost and re-taken ownership (issue 12)', () => {
  it('the fork: lease lost during the dedup read, shard re-claimed during the reload, concurrent sends: no seq acked twice, every ack stored', async () => {
    const { sqlite, store, svc, move, inner } = setup();
    const c = await svc.openDirect('alice', 'bob');
    await svc.send(caller('alice'), { conversation: c.id, clientMsgId: 'before', body: 'seq 1', meta: {} });

    const dedup = new Gate();
    store.beforeFind = () => dedup.wait();
    const sends: Promise<Outcome>[] = [];
    for (let i = 0; i < 10; i++) {
      for (const user of ['alice', 'bob']) {
        const id = `${user}-${i}`;
        sends.push(settle(user, id, svc.send(caller(user), { conversation: c.id, clientMsgId: id, body: id, meta: {} })));
      }
    }
    while (dedup.waiting < sends.length) await new Promise((r) => setImmediate(r));

    // 1. The lease is lost; the cached state is forgotten; another owner writes seq 2.
    move(null);
    await sqlite.commit([{ kind: 'message', message: otherOwnerMessage(c.id, 2) }]);
    // 3. The node re-claims the shard (epoch 7) during the first reload that follows.
    let reclaimed = false;
    store.beforeGetConversation = async () => {
      if (!reclaimed) {
        reclaimed = true;
        move(7);
      }
    };
    store.beforeFind = async () => {};
    dedup.open();
    const first = await Promise.all(sends);
    await inner.flush();

    const acked = first.filter((o) => o.ack).map((o) => o.ack!);
    await checkAcks(sqlite, c.id, acked);
    // Whatever was refused was refused as retryable, and nothing of it was stored.
    for (const o of first.filter((o) => o.error)) assert.equal(o.error, 'unavailable', `${o.id}: ${o.error}`);

    // The clients resend what was refused (same client_msg_id) once the node owns the shard.
    move(7);
    const again = await Promise.all(first.filter((o) => o.error).map((o) => settle(o.user, o.id, svc.send(caller(o.user), { conversation: c.id, clientMsgId: o.id, body: o.id, meta: {} }))));
    await inner.flush();
    assert.deepEqual(again.filter((o) => o.error), [], 'every resend is acked');
    const all = [...acked, ...again.map((o) => o.ack!)];
    assert.equal(all.length, 20);
    await checkAcks(sqlite, c.id, all);
    // The other owner's seq 2 still holds its message.
    const [two] = await sqlite.readAfter(c.id, 1, 1);
    assert.equal(two.messageId, 'other-owner-2');
    assert.deepEqual(all.map((a) => a.seq).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 3));
  });

  it('the same fork through group changes: concurrent subject changes and sends across a re-claim get distinct seqs', async () => {
    const { sqlite, store, svc, move, inner } = setup();
    const g = await svc.createGroup(caller('alice'), 'g', ['bob']);
    const dedup = new Gate();
    store.beforeFind = () => dedup.wait();
    const sends = [0, 1, 2, 3].map((i) => settle('bob', `b${i}`, svc.send(caller('bob'), { conversation: g.conversation, clientMsgId: `b${i}`, body: 'x', meta: {} })));
    while (dedup.waiting < sends.length) await new Promise((r) => setImmediate(r));
    move(null);
    let reclaimed = false;
    store.beforeGetConversation = async () => {
      if (!reclaimed) {
        reclaimed = true;
        move(9);
      }
    };
    const changes = ['s1', 's2', 's3'].map((s) => svc.setSubject(caller('alice'), g.conversation, s).then((info) => info.seq, codeOf));
    store.beforeFind = async () => {};
    dedup.open();
    const outs = await Promise.all(sends);
    const seqs = await Promise.all(changes);
    await inner.flush();
    await checkAcks(sqlite, g.conversation, outs.filter((o) => o.ack).map((o) => o.ack!));
    const taken = [...outs.filter((o) => o.ack).map((o) => o.ack!.seq), ...seqs.filter((s): s is number => typeof s === 'number')];
    assert.equal(new Set(taken).size, taken.length, `seqs handed out twice: ${taken}`);
    const stored = await sqlite.readAfter(g.conversation, 0, 100);
    for (const s of seqs) if (typeof s === 'number') assert.equal(stored.find((m) => m.seq === s)?.meta.system, 'subject_changed');
  });

  it('a write sequenced under an epoch that ended is refused at commit, even though the node owns the shard again; nothing of it is acked', async () => {
    const { sqlite, store, svc, move, inner, fenced } = setup();
    const c = await svc.openDirect('alice', 'bob');
    const commit = new Gate();
    store.beforeCommit = () => commit.wait();
    const sends = [0, 1, 2].map((i) => settle('alice', `a${i}`, svc.send(caller('alice'), { conversation: c.id, clientMsgId: `a${i}`, body: 'x', meta: {} })));
    while (commit.waiting < 1) await new Promise((r) => setImmediate(r));
    // Lost and re-taken (under 6) while the batch waits for the disk; another owner
    // wrote seq 1 under the epoch between.
    move(null);
    await sqlite.commit([{ kind: 'message', message: otherOwnerMessage(c.id, 1) }]);
    move(6);
    store.beforeCommit = async () => {};
    commit.open();
    const outs = await Promise.all(sends);
    await inner.flush();
    assert.deepEqual(outs.map((o) => o.error), ['unavailable', 'unavailable', 'unavailable']);
    assert.ok(fenced.length > 0, 'the commit was refused by the epoch check');
    // Resent under the new epoch: seqs continue after the other owner's.
    const again = await Promise.all(outs.map((o) => settle(o.user, o.id, svc.send(caller(o.user), { conversation: c.id, clientMsgId: o.id, body: 'x', meta: {} }))));
    await checkAcks(sqlite, c.id, again.map((o) => o.ack!));
    assert.deepEqual(again.map((o) => o.ack!.seq), [2, 3, 4]);
  });

  it('a load that straddles an epoch change is not used to sequence: the sends are refused and their resends succeed', async () => {
    const { sqlite, store, svc, move, inner } = setup();
    const c = await svc.openDirect('alice', 'bob');
    move(7); // forget: the next send loads afresh
    let flips = 0;
    store.beforeGetConversation = async () => {
      if (flips++ === 0) {
        // The shard moves away and back (another owner wrote seq 1 in between) while we read.
        move(null);
        await sqlite.commit([{ kind: 'message', message: otherOwnerMessage(c.id, 1) }]);
        move(8);
      }
    };
    const outs = await Promise.all([0, 1, 2].map((i) => settle('bob', `b${i}`, svc.send(caller('bob'), { conversation: c.id, clientMsgId: `b${i}`, body: 'x', meta: {} }))));
    await inner.flush();
    const acked = outs.filter((o) => o.ack).map((o) => o.ack!);
    await checkAcks(sqlite, c.id, acked);
    const again = await Promise.all(outs.filter((o) => o.error).map((o) => settle(o.user, o.id, svc.send(caller(o.user), { conversation: c.id, clientMsgId: o.id, body: 'x', meta: {} }))));
    await checkAcks(sqlite, c.id, [...acked, ...again.map((o) => o.ack!)]);
    assert.deepEqual([...acked, ...again.map((o) => o.ack!)].map((a) => a.seq).sort(), [2, 3, 4]);
  });
});

