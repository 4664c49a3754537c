/**
 * How CassandraStore makes one batch of WriteOps durable, as a pure plan: which rows
 * go to which partition, in which phase. Packing the plan's statements into requests
 * (unlogged batches per partition or per replica set) is cassandra_packing.ts; sending
 * them in order, with the failure rules, is cassandra_commit.ts.
 *
 * Phases, and why:
 *   1. `before`: dedup keys, last_seq hints, cursors, presence, and the metadata
 *      (conversation row, subject, members, former members, user index) of
 *      conversations that have no message in the commit. All concurrent.
 *   2. `messages`: message rows, one chain per conversation with its buckets in
 *      ascending seq order; chains run concurrently. With `guardSeqs` (the default)
 *      each piece is a conditional single-partition batch, every insert `IF NOT
 *      EXISTS`: a seq, once stored, never changes content (CASSANDRA.md, "Seqs never
 *      change content"). Then, per conversation whose whole chain is stored, its
 *      metadata (`after`): a membership or subject change commits with its system
 *      message, so a refused system message (a stale owner's) changes no membership.
 *   3. `trims`: range deletes, after the messages of the same batch so a trim in the
 *      batch also covers them (a delete only shadows cells with older timestamps).
 *
 * Phase 1 before phase 2 gives two invariants the send path relies on:
 *   - a stored message always has its dedup key, so a client that resends after a
 *     timed-out-but-applied write finds its message instead of getting a second seq
 *     (no duplicate). Keys are rows per (client_msg_id, seq) (003_dedup_seqs.cql): the
 *     key of a refused message is one more row that finds nothing (the message at its
 *     seq is someone else's), never a cell that overwrites the key of the stored one;
 *   - conversations.last_seq is never in a bucket below a stored seq's, so lastSeq()
 *     only walks down from the hint's bucket.
 * Chaining a conversation's message partitions in seq order (each partition write is
 * one single-partition batch, which Cassandra applies atomically) keeps its stored
 * seqs a gapless run: a failure leaves a prefix stored, never a hole, so reloading
 * the counter from lastSeq() and reassigning from there leaves no gap.
 *
 * Every statement is idempotent (plain upserts, max-registers, deletes; a conditional
 * insert that finds its own row on a retry counts as stored), so the whole batch can
 * be retried as is.
 *
 * Statements of one partition share an unlogged batch and so one write timestamp. Two
 * writes of the same cell with the same timestamp do not resolve by op order (a
 * tombstone wins, else the larger value), so the plan folds, per commit, what would
 * otherwise collide: one membership state per (conversation, user), one subject per
 * conversation (the last subject op's), one presence state per user, one row per
 * (conversation, seq) (the same message twice is written once; two different
 * messages at one seq are a SeqTakenError before anything is written). The folded
 * result is what applying the ops in order gives (see ./sqlite_store.ts).
 *
 * Max-registers (cell timestamp = value, so the larger value wins on every replica in
 * any order, without LWT or read-before-write): conversations.first_seq / last_seq,
 * cursors.*, former_members.until_seq, presence.last_seen. Rule: such a cell is never
 * written or deleted with a wall-clock timestamp (an ordinary UPDATE / DELETE), which
 * would shadow it forever. members, subject and hide_last_seen are plain
 * last-write-wins cells with the commit's (wall-clock) timestamp. Conditional message
 * inserts get the Paxos ballot's timestamp whatever the client sends (Cassandra
 * refuses USING TIMESTAMP on them and ignores the request's default timestamp).
 */
import type { Role, WriteOp } from './types.js';
import { InvalidWriteError, SeqTakenError } from './errors.js';

/**
 * Seqs per messages partition. 1000: at a few hundred bytes a message a partition
 * stays well under Cassandra's comfortable ~10-100 MB, a 200-message history page
 * touches at most 2 partitions, and lastSeq() after a long idle needs one read.
 */
export const BUCKET_SIZE = 1000;

export function bucketOf(seq: number): number {
  return Math.floor(seq / BUCKET_SIZE);
}

export interface Statement {
  query: string;
  params: unknown[];
}

/** Statements that all touch one partition (so they may share an unlogged batch). */
export interface PartitionWrite {
  partition: string;
  /** The partition key serialized as the driver's token-aware routing expects it. */
  routingKey: Buffer;
  statements: Statement[];
}

/**
 * Serialize a partition key for token lookup: one component as its raw bytes; several
 * as [u16 length][bytes][0x00] each (Cassandra's CompositeType). Numbers are bigint
 * columns (8 bytes, big-endian).
 */
export function routingKey(...parts: Array<string | number>): Buffer {
  const bytes = parts.map((p) => {
    if (typeof p === 'string') return Buffer.from(p, 'utf8');
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(BigInt(p));
    return b;
  });
  if (bytes.length === 1) return bytes[0];
  return Buffer.concat(bytes.flatMap((b) => [Buffer.from([b.length >> 8, b.length & 0xff]), b, Buffer.from([0])]));
}

/** The message rows of one conversation in one commit, and what may only follow them. */
export interface MessageChain {
  conversation: string;
  /** Its message partitions, ascending buckets: written in this order. */
  partitions: PartitionWrite[];
  /**
   * The conversation's metadata in the same commit (conversation row, subject,
   * members, former members, user index): written only once every row of
   * `partitions` is stored.
   */
  after: PartitionWrite[];
}

export interface CommitPlan {
  before: PartitionWrite[];
  /** One chain per conversation: run in order, chains concurrently. */
  messages: MessageChain[];
  /** Highest trim per conversation; expanded into deletes by the store (it needs a read). */
  trims: Array<{ conversation: string; firstSeq: number }>;
}

export interface PlanOptions {
  /**
   * true (default): message rows are inserted `IF NOT EXISTS`. false: plain upserts,
   * the write path before the guard, kept so its cost can be measured. See
   * CassandraStoreOptions.guardSeqs.
   */
  guardSeqs?: boolean;
}

export type WriteQueries = ReturnType<typeof writeQueries>;

export function writeQueries(ks: string) {
  const insertMessage =
    `INSERT INTO ${ks}.messages (conversation, bucket, seq, message_id, sender, sender_device, client_msg_id, body, meta, server_ts) ` +
    'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
  return {
    insertMessage,
    // A seq never changes content: the insert applies only where no row is.
    insertMessageIfNotExists: `${insertMessage} IF NOT EXISTS`,
    insertDedup: `INSERT INTO ${ks}.dedup_seqs (conversation, sender, client_msg_id, seq) VALUES (?, ?, ?, ?)`,
    // Max-registers: the cell's write timestamp is its value, so the larger one wins.
    raiseLastSeq: `UPDATE ${ks}.conversations USING TIMESTAMP ? SET last_seq = ? WHERE id = ?`,
    raiseFirstSeq: `UPDATE ${ks}.conversations USING TIMESTAMP ? SET first_seq = ? WHERE id = ?`,
    raiseDelivered: `UPDATE ${ks}.cursors USING TIMESTAMP ? SET delivered_seq = ? WHERE conversation = ? AND user = ? AND device = ?`,
    raiseRead: `UPDATE ${ks}.cursors USING TIMESTAMP ? SET read_seq = ? WHERE conversation = ? AND user = ? AND device = ?`,
    insertConversation: `INSERT INTO ${ks}.conversations (id, kind, created_at, subject) VALUES (?, ?, ?, ?)`,
    setSubject: `UPDATE ${ks}.conversations SET subject = ? WHERE id = ?`,
    insertMember: `INSERT INTO ${ks}.members (conversation, user, role) VALUES (?, ?, ?)`,
    deleteMember: `DELETE FROM ${ks}.members WHERE conversation = ? AND user = ?`,
    // Max-registers (see the header): never delete these rows with a wall-clock timestamp.
    raiseFormer: `UPDATE ${ks}.former_members USING TIMESTAMP ? SET until_seq = ? WHERE conversation = ? AND user = ?`,
    raiseLastSeen: `UPDATE ${ks}.presence USING TIMESTAMP ? SET last_seen = ? WHERE user = ?`,
    setHidden: `UPDATE ${ks}.presence SET hide_last_seen = ? WHERE user = ?`,
    insertUserConversation: `INSERT INTO ${ks}.user_conversations (user, conversation) VALUES (?, ?)`,
    deleteBucket: `DELETE FROM ${ks}.messages WHERE conversation = ? AND bucket = ?`,
    deleteBelow: `DELETE FROM ${ks}.messages WHERE conversation = ? AND bucket = ? AND seq < ?`,
  };
}

/**
 * Split ops into phases and partitions. Throws InvalidWriteError (or SeqTakenError for
 * two different messages at one seq) before anything is written.
 *
 * `hintCovers(conversation, seq)`: true when a last_seq hint in seq's bucket is known to
 * be durable already (the store remembers the hints it wrote). The hint only has to
 * name the newest bucket, so a conversation pays for it once per 1000 messages, not
 * once per batch.
 */
export function planCommit(
  ops: readonly WriteOp[],
  q: WriteQueries,
  hintCovers: (conversation: string, seq: number) => boolean = () => false,
  options: PlanOptions = {},
): CommitPlan {
  const insertMessage = options.guardSeqs === false ? q.insertMessage : q.insertMessageIfNotExists;
  type Target = Map<string, PartitionWrite>;
  const before: Target = new Map();
  const add = (target: Target, partition: string, key: () => Buffer, s: Statement) => {
    const w = target.get(partition);
    if (w) w.statements.push(s);
    else target.set(partition, { partition, routingKey: key(), statements: [s] });
  };
  /** Per conversation with messages: bucket -> rows, and seq -> message_id (one row per seq). */
  const chains = new Map<string, { buckets: Map<number, Statement[]>; ids: Map<number, string> }>();
  const lastSeq = new Map<string, number>();
  const trims = new Map<string, number>();
  // Folded per commit (see the header): creation rows, subjects, memberships, presence.
  const created = new Map<string, { kind: string; createdAt: number; subject: string }>();
  const subjects = new Map<string, string>();
  /** role: upsert; null: delete; undefined: untouched. former: until_seq to max-merge. */
  const membership = new Map<string, Map<string, { role?: Role | null; former?: number }>>();
  const memberState = (conversation: string, user: string) => {
    let users = membership.get(conversation);
    if (!users) membership.set(conversation, (users = new Map()));
    let st = users.get(user);
    if (!st) users.set(user, (st = {}));
    return st;
  };
  const presence = new Map<string, { lastSeen?: number; hidden?: boolean }>();
  /** conversation -> users to index under it (written with the conversation's metadata). */
  const indexed = new Map<string, Set<string>>();
  const indexUser = (user: string, conversation: string) => {
    const users = indexed.get(conversation) ?? new Set<string>();
    indexed.set(conversation, users);
    users.add(user);
  };

  for (const op of ops) {
    switch (op.kind) {
      case 'message': {
        const m = op.message;
        seqOf('message seq', m.seq, 1);
        intOf('message serverTs', m.serverTs);
        const bucket = bucketOf(m.seq);
        let chain = chains.get(m.conversation);
        if (!chain) chains.set(m.conversation, (chain = { buckets: new Map(), ids: new Map() }));
        const already = chain.ids.get(m.seq);
        if (already !== undefined) {
          // The same message twice is one write. Two messages at one seq: the first
          // holds it, as applying the ops in order would find, and the commit fails.
          if (already !== m.messageId) throw new SeqTakenError(m.conversation, m.seq, already, m.messageId);
          break;
        }
        chain.ids.set(m.seq, m.messageId);
        const rows = chain.buckets.get(bucket) ?? [];
        chain.buckets.set(bucket, rows);
        rows.push({
          query: insertMessage,
          params: [m.conversation, bucket, m.seq, m.messageId, m.sender, m.senderDevice, m.clientMsgId, m.body, m.meta, m.serverTs],
        });
        add(before, `dedup/${m.conversation}/${m.sender}`, () => routingKey(m.conversation, m.sender), {
          query: q.insertDedup,
          params: [m.conversation, m.sender, m.clientMsgId, m.seq],
        });
        lastSeq.set(m.conversation, Math.max(lastSeq.get(m.conversation) ?? 0, m.seq));
        break;
      }
      case 'cursor': {
        const c = op.cursor;
        seqOf('cursor delivered', c.delivered, 0);
        seqOf('cursor read', c.read, 0);
        const key = `cursors/${c.conversation}`;
        add(before, key, () => routingKey(c.conversation), { query: q.raiseDelivered, params: [c.delivered, c.delivered, c.conversation, c.user, c.device] });
        add(before, key, () => routingKey(c.conversation), { query: q.raiseRead, params: [c.read, c.read, c.conversation, c.user, c.device] });
        break;
      }
      case 'conversation': {
        const c = op.conversation;
        if (c.kind !== 'direct' && c.kind !== 'group') throw new InvalidWriteError(`conversation ${c.id}: unknown kind ${JSON.stringify(c.kind)}`);
        intOf('conversation createdAt', c.createdAt);
        // Creating twice in one commit is one creation: the first one's values.
        if (!created.has(c.id)) created.set(c.id, { kind: c.kind, createdAt: c.createdAt, subject: c.subject });
        for (const member of c.members) {
          roleOf(`conversation ${c.id}`, member.role);
          // "Insert if absent", as far as this commit knows: a member added earlier in
          // the commit keeps the role it was given.
          const st = memberState(c.id, member.user);
          if (typeof st.role !== 'string') st.role = member.role;
          indexUser(member.user, c.id);
        }
        break;
      }
      case 'members': {
        const removed = new Set(op.remove.map((r) => r.user));
        for (const member of op.add) {
          if (removed.has(member.user)) throw new InvalidWriteError(`members op on ${op.conversation}: ${member.user} is both added and removed`);
          roleOf(`members op on ${op.conversation}`, member.role);
        }
        for (const r of op.remove) seqOf(`members op on ${op.conversation}: untilSeq of ${r.user}`, r.untilSeq, 0);
        for (const member of op.add) {
          memberState(op.conversation, member.user).role = member.role;
          indexUser(member.user, op.conversation);
        }
        for (const r of op.remove) {
          // The user index keeps a removed user: it may still sync up to untilSeq.
          const st = memberState(op.conversation, r.user);
          st.role = null;
          st.former = Math.max(st.former ?? 0, r.untilSeq);
        }
        break;
      }
      case 'subject': {
        if (typeof op.subject !== 'string') throw new InvalidWriteError(`subject of ${op.conversation} must be a string`);
        subjects.set(op.conversation, op.subject);
        break;
      }
      case 'presence': {
        const st = presence.get(op.user) ?? {};
        presence.set(op.user, st);
        if (op.lastSeenAt !== null) {
          seqOf(`presence lastSeenAt of ${op.user}`, op.lastSeenAt, 0);
          st.lastSeen = Math.max(st.lastSeen ?? 0, op.lastSeenAt);
        }
        if (op.hidden !== null) {
          if (typeof op.hidden !== 'boolean') throw new InvalidWriteError(`presence hidden of ${op.user} must be a boolean or null`);
          st.hidden = op.hidden;
        }
        break;
      }
      case 'trim': {
        seqOf('trim firstSeq', op.firstSeq, 1);
        trims.set(op.conversation, Math.max(trims.get(op.conversation) ?? 0, op.firstSeq));
        break;
      }
      default: {
        const unknown: never = op;
        throw new InvalidWriteError(`unknown write op kind ${JSON.stringify((unknown as { kind: unknown }).kind)}`);
      }
    }
  }
  // A conversation's metadata follows its messages when it has any in this commit
  // (see the header); otherwise it is phase 1.
  const afterOf = new Map<string, Target>();
  const metaTarget = (conversation: string): Target => {
    if (!chains.has(conversation)) return before;
    let t = afterOf.get(conversation);
    if (!t) afterOf.set(conversation, (t = new Map()));
    return t;
  };
  for (const [id, c] of created) {
    // A subject op in the same commit wins over the creation's subject (same batch, same
    // timestamp: two values would tie), so the row is written with the final subject.
    add(metaTarget(id), `conversations/${id}`, () => routingKey(id), { query: q.insertConversation, params: [id, c.kind, c.createdAt, subjects.get(id) ?? c.subject] });
  }
  for (const [id, subject] of subjects) {
    if (!created.has(id)) add(metaTarget(id), `conversations/${id}`, () => routingKey(id), { query: q.setSubject, params: [subject, id] });
  }
  for (const [conversation, users] of membership) {
    const target = metaTarget(conversation);
    for (const [user, st] of users) {
      if (typeof st.role === 'string') {
        add(target, `members/${conversation}`, () => routingKey(conversation), { query: q.insertMember, params: [conversation, user, st.role] });
      } else if (st.role === null) {
        add(target, `members/${conversation}`, () => routingKey(conversation), { query: q.deleteMember, params: [conversation, user] });
      }
      if (st.former !== undefined) {
        add(target, `former_members/${conversation}`, () => routingKey(conversation), {
          query: q.raiseFormer,
          params: [st.former, st.former, conversation, user],
        });
      }
    }
  }
  for (const [conversation, users] of indexed) {
    const target = metaTarget(conversation);
    for (const user of users) {
      add(target, `user_conversations/${user}`, () => routingKey(user), { query: q.insertUserConversation, params: [user, conversation] });
    }
  }
  for (const [user, st] of presence) {
    if (st.lastSeen !== undefined) add(before, `presence/${user}`, () => routingKey(user), { query: q.raiseLastSeen, params: [st.lastSeen, st.lastSeen, user] });
    if (st.hidden !== undefined) add(before, `presence/${user}`, () => routingKey(user), { query: q.setHidden, params: [st.hidden, user] });
  }
  // The hint goes to the conversation's partition. It is phase 1 even when the
  // conversation's own row follows its messages: the hint must precede them.
  for (const [conversation, seq] of lastSeq) {
    if (!hintCovers(conversation, seq)) add(before, `conversations/${conversation}`, () => routingKey(conversation), { query: q.raiseLastSeq, params: [seq, seq, conversation] });
  }

  return {
    before: [...before.values()],
    messages: [...chains].map(([conversation, { buckets }]) => ({
      conversation,
      partitions: [...buckets]
        .sort(([a], [b]) => a - b)
        .map(([bucket, statements]) => ({ partition: `messages/${conversation}/${bucket}`, routingKey: routingKey(conversation, bucket), statements })),
      after: [...(afterOf.get(conversation)?.values() ?? [])],
    })),
    trims: [...trims].map(([conversation, firstSeq]) => ({ conversation, firstSeq })),
  };
}

/** The (seq, message_id) a message insert of this module writes (its params' layout). */
export function messageRowOf(s: Statement): { seq: number; messageId: string } {
  return { seq: s.params[2] as number, messageId: s.params[3] as string };
}

/** The deletes of one trim, given the conversation's current first seq. */
export function trimStatements(q: WriteQueries, conversation: string, currentFirst: number, firstSeq: number): PartitionWrite[] {
  const out: PartitionWrite[] = [];
  const to = bucketOf(firstSeq);
  // Whole buckets below the new first seq go as partition deletes (one tombstone
  // each); only the boundary bucket needs a range delete.
  for (let b = bucketOf(Math.min(currentFirst, firstSeq)); b < to; b++) {
    out.push({ partition: `messages/${conversation}/${b}`, routingKey: routingKey(conversation, b), statements: [{ query: q.deleteBucket, params: [conversation, b] }] });
  }
  out.push({ partition: `messages/${conversation}/${to}`, routingKey: routingKey(conversation, to), statements: [{ query: q.deleteBelow, params: [conversation, to, firstSeq] }] });
  out.push({ partition: `conversations/${conversation}`, routingKey: routingKey(conversation), statements: [{ query: q.raiseFirstSeq, params: [firstSeq, firstSeq, conversation] }] });
  return out;
}


function seqOf(what: string, v: number, min: number): void {
  if (!Number.isSafeInteger(v) || v < min) throw new InvalidWriteError(`${what} must be an integer >= ${min}, got ${v}`);
}

function roleOf(what: string, role: unknown): void {
  if (role !== 'member' && role !== 'admin') throw new InvalidWriteError(`${what}: unknown role ${JSON.stringify(role)}`);
}

function intOf(what: string, v: number): void {
  if (!Number.isSafeInteger(v)) throw new InvalidWriteError(`${what} must be an integer, got ${v}`);
}
