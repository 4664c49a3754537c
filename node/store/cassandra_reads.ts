/**
 * The store's reads: conversations with members and former members, presence, a
 * user's conversations, message pages (walking the seq buckets), the last and first
 * seq, dedup lookups and cursors, at the read consistency with backoff retries
 * (cassandra_failures.ts). The queries and the row-to-record mapping are here too.
 * Writes are cassandra_commit.ts; CassandraStore (cassandra_store.ts) puts both
 * behind the MessageStore interface.
 */
import cassandra from 'cassandra-driver';
import type { Conversation, ConversationKind, DeviceCursor, LastSeen, Role, StoredMessage } from './types.js';
import { BUCKET_SIZE, bucketOf } from './cassandra_plan.js';
import { runLimited } from './cassandra_packing.js';
import { classify, withRetry, type RetryRule } from './cassandra_failures.js';

const MESSAGE_COLUMNS = 'conversation, seq, message_id, sender, sender_device, client_msg_id, body, meta, server_ts';

export interface ReadOptions {
  /** Read consistency (CassandraStoreOptions.readConsistency). */
  readCl: number;
  /** Single-partition reads in flight at once for one call (getPresence). */
  concurrency: number;
  retry: RetryRule;
  /** Throws when the store is closed. */
  assertOpen(): void;
}

export class CassandraReads {
  private readonly rq: ReturnType<typeof readQueries>;
  private readonly readCl: number;
  private readonly concurrency: number;
  /** Whether 001's dedup table may still hold live keys (probed once, see legacyKeys()). */
  private legacyDedup: Promise<boolean> | null = null;

  constructor(
    private readonly client: cassandra.Client,
    keyspace: string,
    private readonly opts: ReadOptions,
  ) {
    this.rq = readQueries(keyspace);
    this.readCl = opts.readCl;
    this.concurrency = opts.concurrency;
  }

  async getConversation(id: string): Promise<Conversation | null> {
    const row = (await this.read(this.rq.conversation, [id])).first();
    if (!row || row.get('kind') == null) return null;
    const [members, formerRows] = await Promise.all([this.readAll(this.rq.members, [id]), this.readAll(this.rq.former, [id])]);
    const conv: Conversation = {
      id,
      kind: row.get('kind') as ConversationKind,
      members: members.map((m) => ({ user: m.get('user') as string, role: m.get('role') as Role })),
      createdAt: num(row.get('created_at')) ?? 0,
      subject: (row.get('subject') as string | null) ?? '',
    };
    // A re-added user's former row is not deleted (it is a max-register, see
    // 002_groups_presence.cql): being a member again is what ends being former.
    const memberSet = new Set(conv.members.map((m) => m.user));
    const former = formerRows
      .filter((r) => !memberSet.has(r.get('user') as string))
      .map((r) => ({ user: r.get('user') as string, untilSeq: num(r.get('until_seq')) ?? 0 }));
    if (former.length > 0) conv.former = former;
    return conv;
  }

  async getPresence(users: string[]): Promise<LastSeen[]> {
    this.assertOpen();
    const out: LastSeen[] = [];
    // One single-partition read per user (token-aware, spread over replicas) rather than
    // a multi-partition IN, which would make one coordinator fan out and wait for all.
    await runLimited(
      [...new Set(users)].map((user) => async () => {
        const row = (await this.read(this.rq.presence, [user])).first();
        if (!row) return;
        out.push({ user, at: num(row.get('last_seen')) ?? 0, hidden: row.get('hide_last_seen') === true });
      }),
      this.concurrency,
    );
    return out;
  }

  async listUserConversations(user: string): Promise<string[]> {
    return (await this.readAll(this.rq.userConversations, [user])).map((r) => r.get('conversation') as string);
  }

  async lastSeq(conversation: string): Promise<number> {
    const { first, hint } = await this.bounds(conversation);
    // The hint's bucket is never below a stored seq's (it is written before the
    // messages); walk down from it past any bucket a failed batch announced but never filled.
    for (let b = bucketOf(hint); hint > 0 && b >= bucketOf(first); b--) {
      const row = (await this.read(this.rq.maxSeqInBucket, [conversation, b])).first();
      if (row) {
        const seq = num(row.get('seq')) ?? 0;
        return seq >= first ? seq : 0;
      }
    }
    return 0;
  }

  async firstSeq(conversation: string): Promise<number> {
    return (await this.bounds(conversation)).first;
  }

  async findByClientMsgId(conversation: string, sender: string, clientMsgId: string): Promise<StoredMessage | null> {
    // Every seq a commit tried for this key (003_dedup_seqs.cql), ascending; almost
    // always one. The answer is the message that really is this sender's
    // client_msg_id: a key whose seq holds another message (a refused or failed write
    // whose seq went to someone else) finds nothing, rather than someone else's message.
    const keys = await this.read(this.rq.dedup, [conversation, sender, clientMsgId]);
    const found = await this.firstOwn(conversation, sender, clientMsgId, keys.rows);
    if (found || !(await this.legacyKeys())) return found;
    return this.firstOwn(conversation, sender, clientMsgId, (await this.read(this.rq.legacyDedup, [conversation, sender, clientMsgId])).rows);
  }

  /** The first message, among the keys' seqs, that has this sender and client_msg_id. */
  private async firstOwn(conversation: string, sender: string, clientMsgId: string, keys: cassandra.types.Row[]): Promise<StoredMessage | null> {
    for (const key of keys) {
      const seq = num(key.get('seq'));
      if (seq === null) continue;
      const row = (await this.read(this.rq.messageAt, [conversation, bucketOf(seq), seq])).first();
      if (!row) continue; // trimmed, or the key of a write that failed before its message
      const m = toMessage(row);
      if (m.sender === sender && m.clientMsgId === clientMsgId) return m;
    }
    return null;
  }

  /**
   * Whether 001's dedup table may still hold live keys (written before migration 003;
   * they expire with its 7-day TTL), probed once per store. While it may, a miss in
   * dedup_seqs also reads it, so a resend of a message stored before the upgrade is
   * still found. A probe that fails counts as "may": one extra read beats a duplicate.
   */
  private legacyKeys(): Promise<boolean> {
    this.legacyDedup ??= this.read(this.rq.anyLegacyDedup, []).then(
      (rs) => rs.rowLength > 0,
      () => true,
    );
    return this.legacyDedup;
  }

  async readAfter(conversation: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    checkLimit('readAfter', limit);
    if (limit === 0) return [];
    const { first, hint } = await this.bounds(conversation);
    const from = Math.max(Math.floor(afterSeq) + 1, first);
    const out: StoredMessage[] = [];
    for (let b = bucketOf(from); b <= bucketOf(hint) && out.length < limit; b++) {
      const rs = await this.read(this.rq.after, [conversation, b, from, limit - out.length], limit);
      for (const row of rs.rows) out.push(toMessage(row));
    }
    return out;
  }

  async readBefore(conversation: string, beforeSeq: number, limit: number): Promise<StoredMessage[]> {
    checkLimit('readBefore', limit);
    if (limit === 0) return [];
    const { first, hint } = await this.bounds(conversation);
    // The hint names the newest bucket, not the newest seq: anything in that bucket may exist.
    const to = Math.min(Math.ceil(beforeSeq) - 1, (bucketOf(hint) + 1) * BUCKET_SIZE - 1);
    const out: StoredMessage[] = [];
    for (let b = bucketOf(to); to >= first && b >= bucketOf(first) && out.length < limit; b--) {
      const rs = await this.read(this.rq.before, [conversation, b, to, first, limit - out.length], limit);
      for (const row of rs.rows) out.push(toMessage(row));
    }
    return out;
  }

  async getCursors(conversation: string): Promise<DeviceCursor[]> {
    return (await this.readAll(this.rq.cursors, [conversation])).map((r) => ({
      conversation,
      user: r.get('user') as string,
      device: r.get('device') as string,
      delivered: num(r.get('delivered_seq')) ?? 0,
      read: num(r.get('read_seq')) ?? 0,
    }));
  }

  /** first_seq (1 when never trimmed) and the last_seq hint (0 when no message). */
  async bounds(conversation: string): Promise<{ first: number; hint: number }> {
    const row = (await this.read(this.rq.bounds, [conversation])).first();
    return { first: num(row?.get('first_seq')) ?? 1, hint: num(row?.get('last_seq')) ?? 0 };
  }

  private read(query: string, params: unknown[], fetchSize = 5000): Promise<cassandra.types.ResultSet> {
    this.assertOpen();
    const options = { prepare: true, isIdempotent: true, consistency: this.readCl, fetchSize: Math.max(1, fetchSize) };
    return this.withRetry(() => this.client.execute(query, params, options)).catch((err: unknown) => {
      throw classify(err, 'cassandra read');
    });
  }

  /** Every row of a partition, following pages. */
  private async readAll(query: string, params: unknown[]): Promise<cassandra.types.Row[]> {
    this.assertOpen();
    const rows: cassandra.types.Row[] = [];
    let pageState: string | undefined;
    do {
      const options = { prepare: true, isIdempotent: true, consistency: this.readCl, fetchSize: 1000, pageState };
      const rs = await this.withRetry(() => this.client.execute(query, params, options)).catch((err: unknown) => {
        throw classify(err, 'cassandra read');
      });
      rows.push(...rs.rows);
      pageState = rs.pageState ?? undefined;
    } while (pageState);
    return rows;
  }

  private withRetry<T>(fn: () => Promise<T>): Promise<T> {
    return withRetry(this.opts.retry, fn);
  }

  private assertOpen(): void {
    this.opts.assertOpen();
  }
}

function readQueries(ks: string) {
  return {
    conversation: `SELECT kind, created_at, subject FROM ${ks}.conversations WHERE id = ?`,
    bounds: `SELECT first_seq, last_seq FROM ${ks}.conversations WHERE id = ?`,
    members: `SELECT user, role FROM ${ks}.members WHERE conversation = ?`,
    former: `SELECT user, until_seq FROM ${ks}.former_members WHERE conversation = ?`,
    presence: `SELECT last_seen, hide_last_seen FROM ${ks}.presence WHERE user = ?`,
    userConversations: `SELECT conversation FROM ${ks}.user_conversations WHERE user = ?`,
    maxSeqInBucket: `SELECT seq FROM ${ks}.messages WHERE conversation = ? AND bucket = ? ORDER BY seq DESC LIMIT 1`,
    dedup: `SELECT seq FROM ${ks}.dedup_seqs WHERE conversation = ? AND sender = ? AND client_msg_id = ?`,
    // 001's table: read after a miss while it may still hold live keys (003_dedup_seqs.cql).
    legacyDedup: `SELECT seq FROM ${ks}.dedup WHERE conversation = ? AND sender = ? AND client_msg_id = ?`,
    anyLegacyDedup: `SELECT seq FROM ${ks}.dedup LIMIT 1`,
    messageAt: `SELECT ${MESSAGE_COLUMNS} FROM ${ks}.messages WHERE conversation = ? AND bucket = ? AND seq = ?`,
    after: `SELECT ${MESSAGE_COLUMNS} FROM ${ks}.messages WHERE conversation = ? AND bucket = ? AND seq >= ? LIMIT ?`,
    before:
      `SELECT ${MESSAGE_COLUMNS} FROM ${ks}.messages WHERE conversation = ? AND bucket = ? AND seq <= ? AND seq >= ? ` +
      'ORDER BY seq DESC LIMIT ?',
    cursors: `SELECT user, device, delivered_seq, read_seq FROM ${ks}.cursors WHERE conversation = ?`,
  };
}

function toMessage(row: cassandra.types.Row): StoredMessage {
  const meta = row.get('meta') as Record<string, string> | null;
  return {
    conversation: row.get('conversation') as string,
    seq: num(row.get('seq')) ?? 0,
    messageId: row.get('message_id') as string,
    sender: row.get('sender') as string,
    senderDevice: row.get('sender_device') as string,
    clientMsgId: row.get('client_msg_id') as string,
    body: row.get('body') as string,
    meta: meta ? { ...meta } : {},
    serverTs: num(row.get('server_ts')) ?? 0,
  };
}

/** bigint columns come back as Long; every value Switchboard stores fits 2^53. */
export function num(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') return v;
  return (v as cassandra.types.Long).toNumber();
}

function checkLimit(method: string, limit: number): void {
  if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`${method}: limit must be a non-negative integer, got ${limit}`);
}
