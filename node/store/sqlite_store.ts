/**
 * MessageStore on embedded SQLite (better-sqlite3): the single-node default.
 *
 * Durability: WAL journal with synchronous=FULL, so a commit returns only after the
 * WAL is fsynced; one `commit(ops)` is one transaction, hence one fsync per batch.
 * That is why writes go through a BatchWriter: the fsync is paid per batch, not per
 * message.
 *
 * better-sqlite3 is synchronous: every call blocks the event loop for its duration
 * (a commit for one fsync). Methods still return promises so this store is
 * interchangeable with the Cassandra one.
 */
import Database from 'better-sqlite3';
import type { MessageStore } from './store.js';
import type { Conversation, ConversationKind, DeviceCursor, LastSeen, Role, StoredMessage, WriteOp } from './types.js';
import { migrate, SCHEMA_VERSION } from './sqlite_schema.js';
import { InvalidWriteError, SeqTakenError, StoreUnavailableError } from './errors.js';

export interface SqliteStoreOptions {
  /**
   * How long a write waits for another connection's lock before failing. 5 s: the
   * node is the only writer, so contention only comes from an operator's sqlite3
   * shell or a backup; waiting beats failing a batch, and 5 s stays well under the
   * client's send timeout.
   */
  busyTimeoutMs?: number;
  /**
   * A reader beside the store's writer (./sqlite_worker_store.ts keeps one in the host
   * while the worker writes): opened read-only, so it can never write, and without the
   * journal pragmas and the migration, which are the writer's (it must have opened the
   * file first). Its commits fail.
   */
  readOnly?: boolean;
  /**
   * WAL pages after which a commit checkpoints (PRAGMA wal_autocheckpoint). 10,000
   * (~40 MB of 4 KiB pages), not SQLite's 1,000: a checkpoint copies every page the WAL
   * holds once, so the longer the WAL, the more rewrites of one hot page (a
   * conversation's last leaf, its dedup leaf) it folds into one copy. Measured with the
   * node's rows on this box (benchmarks/sqlite_knobs.ts, with positional binding, which
   * is most of the rest): 23 rows per commit 25.9 -> 23.6 µs CPU per message, 64 rows
   * 20.7 -> 18.4 (docs/CAPACITY.md §7). The cost: the WAL file grows to ~40
   * MB (trimmed back to 64 MB at most after a checkpoint, journal_size_limit) and a
   * crash replays at most that much on the next open.
   */
  walAutocheckpointPages?: number;
}

/** See SqliteStoreOptions.walAutocheckpointPages. */
export const WAL_AUTOCHECKPOINT_PAGES = 10_000;
/** The WAL file is truncated back to this after a checkpoint that left it larger (bytes). */
const JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024;

interface MessageRow {
  conversation: string;
  seq: number;
  message_id: string;
  sender: string;
  sender_device: string;
  client_msg_id: string;
  body: string;
  meta: string;
  server_ts: number;
}

interface ConversationRow {
  id: string;
  kind: ConversationKind;
  created_at: number;
  subject: string;
  first_seq: number;
}

const MESSAGE_COLUMNS = 'conversation, seq, message_id, sender, sender_device, client_msg_id, body, meta, server_ts';

export class SqliteStore implements MessageStore {
  readonly kind = 'sqlite';
  readonly path: string;
  private readonly db: Database.Database;
  private closed = false;

  // Prepared once: statement compilation would otherwise dominate small reads.
  // Idempotent inserts use ON CONFLICT DO NOTHING, not INSERT OR IGNORE: OR IGNORE
  // also swallows CHECK and type violations, silently dropping an invalid op. A message
  // insert that did nothing is then checked (see applyOp): the same message_id is a
  // retry, another one is a SeqTakenError that rolls the whole commit back.
  private readonly stmt;
  private readonly applyBatch: Database.Transaction<(ops: WriteOp[]) => void>;

  /** `path` is a file chosen by the caller, or ':memory:' for tests. */
  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.path = path;
    this.db = new Database(path, { readonly: options.readOnly === true, fileMustExist: options.readOnly === true });
    try {
      if (options.readOnly === true) {
        this.db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
        checkVersion(this.db);
      } else {
        this.db.pragma('journal_mode = WAL');
        // FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on power loss,
        // and an acked message must survive that.
        this.db.pragma('synchronous = FULL');
        this.db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
        this.db.pragma(`wal_autocheckpoint = ${Math.max(0, Math.trunc(options.walAutocheckpointPages ?? WAL_AUTOCHECKPOINT_PAGES))}`);
        this.db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT}`);
        migrate(this.db);
      }
    } catch (err) {
      this.db.close();
      throw err;
    }

    const db = this.db;
    this.stmt = {
      insertMessage: db.prepare(
        `INSERT INTO messages (${MESSAGE_COLUMNS})
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT DO NOTHING`,
      ),
      insertDedup: db.prepare(
        'INSERT INTO dedup (conversation, sender, client_msg_id, seq) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      mergeCursor: db.prepare(
        `INSERT INTO cursors (conversation, user, device, delivered, read) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (conversation, user, device) DO UPDATE SET
           delivered = max(delivered, excluded.delivered),
           read = max(read, excluded.read)`,
      ),
      insertConversation: db.prepare(
        'INSERT INTO conversations (id, kind, created_at, subject, first_seq) VALUES (?, ?, ?, ?, 1) ON CONFLICT DO NOTHING',
      ),
      insertMember: db.prepare('INSERT INTO members (conversation, user, role) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
      insertUserConversation: db.prepare(
        'INSERT INTO user_conversations (user, conversation) VALUES (?, ?) ON CONFLICT DO NOTHING',
      ),
      trimMessages: db.prepare('DELETE FROM messages WHERE conversation = ? AND seq < ?'),
      trimDedup: db.prepare('DELETE FROM dedup WHERE conversation = ? AND seq < ?'),
      raiseFirstSeq: db.prepare('UPDATE conversations SET first_seq = max(first_seq, ?) WHERE id = ?'),
      upsertMember: db.prepare(
        'INSERT INTO members (conversation, user, role) VALUES (?, ?, ?) ON CONFLICT (conversation, user) DO UPDATE SET role = excluded.role',
      ),
      deleteMember: db.prepare('DELETE FROM members WHERE conversation = ? AND user = ?'),
      deleteFormer: db.prepare('DELETE FROM former_members WHERE conversation = ? AND user = ?'),
      mergeFormer: db.prepare(
        `INSERT INTO former_members (conversation, user, until_seq) VALUES (?, ?, ?)
         ON CONFLICT (conversation, user) DO UPDATE SET until_seq = max(until_seq, excluded.until_seq)`,
      ),
      setSubject: db.prepare('UPDATE conversations SET subject = ? WHERE id = ?'),
      mergeLastSeen: db.prepare(
        `INSERT INTO presence (user, last_seen) VALUES (?, ?)
         ON CONFLICT (user) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)`,
      ),
      setHidden: db.prepare(
        'INSERT INTO presence (user, hide_last_seen) VALUES (?, ?) ON CONFLICT (user) DO UPDATE SET hide_last_seen = excluded.hide_last_seen',
      ),
      getPresence: db.prepare('SELECT user, last_seen, hide_last_seen FROM presence WHERE user = ?'),
      getFormer: db.prepare('SELECT user, until_seq FROM former_members WHERE conversation = ? ORDER BY user'),

      getConversation: db.prepare('SELECT id, kind, created_at, subject, first_seq FROM conversations WHERE id = ?'),
      getMembers: db.prepare('SELECT user, role FROM members WHERE conversation = ? ORDER BY user'),
      listUserConversations: db.prepare(
        'SELECT conversation FROM user_conversations WHERE user = ? ORDER BY conversation',
      ),
      lastSeq: db.prepare('SELECT max(seq) AS seq FROM messages WHERE conversation = ?'),
      firstSeq: db.prepare('SELECT first_seq FROM conversations WHERE id = ?'),
      messageIdAt: db.prepare('SELECT message_id FROM messages WHERE conversation = ? AND seq = ?'),
      // The message at the key's seq must be the key's own (same sender and
      // client_msg_id), or the key finds nothing: a key must never answer a resend
      // with another message's seq.
      findByClientMsgId: db.prepare(
        `SELECT ${MESSAGE_COLUMNS} FROM messages
         WHERE conversation = ? AND sender = ? AND client_msg_id = ? AND seq = (
           SELECT seq FROM dedup WHERE conversation = ? AND sender = ? AND client_msg_id = ?)`,
      ),
      readAfter: db.prepare(
        `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation = ? AND seq > ? ORDER BY seq ASC LIMIT ?`,
      ),
      readBefore: db.prepare(
        `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
      ),
      getCursors: db.prepare(
        `SELECT conversation, user, device, delivered, read FROM cursors
         WHERE conversation = ? ORDER BY user, device`,
      ),
    };

    this.applyBatch = db.transaction((ops: WriteOp[]) => {
      for (const op of ops) this.applyOp(op);
    });
  }

  async commit(ops: WriteOp[]): Promise<void> {
    this.assertOpen();
    if (ops.length === 0) return;
    try {
      // IMMEDIATE takes the write lock up front, so the batch cannot fail halfway
      // with SQLITE_BUSY on a lock upgrade.
      this.applyBatch.immediate(ops);
    } catch (err) {
      throw classifyWriteError(err, ops.length);
    }
  }

  async getConversation(id: string): Promise<Conversation | null> {
    this.assertOpen();
    const row = this.stmt.getConversation.get(id) as ConversationRow | undefined;
    if (!row) return null;
    const members = this.stmt.getMembers.all(id) as { user: string; role: Role }[];
    const former = this.stmt.getFormer.all(id) as { user: string; until_seq: number }[];
    const conv: Conversation = {
      id: row.id,
      kind: row.kind,
      members: members.map((m) => ({ user: m.user, role: m.role })),
      createdAt: row.created_at,
      subject: row.subject,
    };
    if (former.length) conv.former = former.map((f) => ({ user: f.user, untilSeq: f.until_seq }));
    return conv;
  }

  async getPresence(users: string[]): Promise<LastSeen[]> {
    this.assertOpen();
    const out: LastSeen[] = [];
    for (const user of new Set(users)) {
      const row = this.stmt.getPresence.get(user) as { user: string; last_seen: number; hide_last_seen: number } | undefined;
      if (row) out.push({ user: row.user, at: row.last_seen, hidden: row.hide_last_seen === 1 });
    }
    return out;
  }

  async listUserConversations(user: string): Promise<string[]> {
    this.assertOpen();
    return (this.stmt.listUserConversations.all(user) as { conversation: string }[]).map((r) => r.conversation);
  }

  async lastSeq(conversation: string): Promise<number> {
    this.assertOpen();
    const row = this.stmt.lastSeq.get(conversation) as { seq: number | null };
    return row.seq ?? 0;
  }

  async firstSeq(conversation: string): Promise<number> {
    this.assertOpen();
    const row = this.stmt.firstSeq.get(conversation) as { first_seq: number } | undefined;
    return row?.first_seq ?? 1;
  }

  async findByClientMsgId(conversation: string, sender: string, clientMsgId: string): Promise<StoredMessage | null> {
    this.assertOpen();
    const row = this.stmt.findByClientMsgId.get(conversation, sender, clientMsgId, conversation, sender, clientMsgId) as
      | MessageRow
      | undefined;
    return row ? toMessage(row) : null;
  }

  async readAfter(conversation: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    this.assertOpen();
    checkLimit('readAfter', limit);
    if (limit === 0) return [];
    return (this.stmt.readAfter.all(conversation, afterSeq, limit) as MessageRow[]).map(toMessage);
  }

  async readBefore(conversation: string, beforeSeq: number, limit: number): Promise<StoredMessage[]> {
    this.assertOpen();
    checkLimit('readBefore', limit);
    if (limit === 0) return [];
    return (this.stmt.readBefore.all(conversation, beforeSeq, limit) as MessageRow[]).map(toMessage);
  }

  async getCursors(conversation: string): Promise<DeviceCursor[]> {
    this.assertOpen();
    return this.stmt.getCursors.all(conversation) as DeviceCursor[];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  /** A pragma's current value, for tests and the admin CLI. */
  pragma(name: 'journal_mode' | 'synchronous' | 'busy_timeout' | 'user_version' | 'wal_autocheckpoint' | 'journal_size_limit'): unknown {
    this.assertOpen();
    return this.db.pragma(name, { simple: true });
  }

  private applyOp(op: WriteOp): void {
    switch (op.kind) {
      case 'message': {
        const m = op.message;
        // Positional, in MESSAGE_COLUMNS order: binding by name costs an object per row.
        const inserted = this.stmt.insertMessage.run(m.conversation, m.seq, m.messageId, m.sender, m.senderDevice, m.clientMsgId, m.body, JSON.stringify(m.meta), m.serverTs);
        if (inserted.changes === 0) {
          // The seq is stored already: a retry of this very message is a no-op; any
          // other message there stays, and this commit fails whole (the transaction
          // rolls back on the throw), so nothing of it is kept or acked.
          const stored = this.stmt.messageIdAt.get(m.conversation, m.seq) as { message_id: string } | undefined;
          if (stored && stored.message_id !== m.messageId) throw new SeqTakenError(m.conversation, m.seq, stored.message_id, m.messageId);
        }
        this.stmt.insertDedup.run(m.conversation, m.sender, m.clientMsgId, m.seq);
        return;
      }
      case 'cursor': {
        const c = op.cursor;
        this.stmt.mergeCursor.run(c.conversation, c.user, c.device, c.delivered, c.read);
        return;
      }
      case 'conversation': {
        const c = op.conversation;
        this.stmt.insertConversation.run(c.id, c.kind, c.createdAt, c.subject);
        for (const member of c.members) {
          this.stmt.insertMember.run(c.id, member.user, member.role);
          this.stmt.insertUserConversation.run(member.user, c.id);
        }
        return;
      }
      case 'trim': {
        this.stmt.trimMessages.run(op.conversation, op.firstSeq);
        this.stmt.trimDedup.run(op.conversation, op.firstSeq);
        this.stmt.raiseFirstSeq.run(op.firstSeq, op.conversation);
        return;
      }
      case 'members': {
        const removed = new Set(op.remove.map((r) => r.user));
        for (const m of op.add) {
          if (removed.has(m.user)) throw new InvalidWriteError(`members op on ${op.conversation}: ${m.user} is both added and removed`);
          this.stmt.upsertMember.run(op.conversation, m.user, m.role);
          this.stmt.deleteFormer.run(op.conversation, m.user);
          this.stmt.insertUserConversation.run(m.user, op.conversation);
        }
        for (const r of op.remove) {
          this.stmt.deleteMember.run(op.conversation, r.user);
          this.stmt.mergeFormer.run(op.conversation, r.user, r.untilSeq);
        }
        return;
      }
      case 'subject': {
        this.stmt.setSubject.run(op.subject, op.conversation);
        return;
      }
      case 'presence': {
        if (op.lastSeenAt !== null) this.stmt.mergeLastSeen.run(op.user, op.lastSeenAt);
        if (op.hidden !== null) this.stmt.setHidden.run(op.user, op.hidden ? 1 : 0);
        return;
      }
      default: {
        const unknown: never = op;
        throw new InvalidWriteError(`unknown write op kind ${JSON.stringify((unknown as { kind: unknown }).kind)}`);
      }
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreUnavailableError(`sqlite store ${this.path} is closed`);
  }
}

/** A reader opens a file its writer migrated: the same schema version, or it refuses. */
function checkVersion(db: Database.Database): void {
  const v = db.pragma('user_version', { simple: true }) as number;
  if (v !== SCHEMA_VERSION) throw new Error(`sqlite reader: schema version ${v}, this build reads ${SCHEMA_VERSION}; open the writer first`);
}

function toMessage(row: MessageRow): StoredMessage {
  return {
    conversation: row.conversation,
    seq: row.seq,
    messageId: row.message_id,
    sender: row.sender,
    senderDevice: row.sender_device,
    clientMsgId: row.client_msg_id,
    body: row.body,
    meta: JSON.parse(row.meta) as Record<string, string>,
    serverTs: row.server_ts,
  };
}

// SQLite reads a negative LIMIT as "no limit": refuse it rather than return a whole history.
function checkLimit(method: string, limit: number): void {
  if (!Number.isInteger(limit) || limit < 0) {
    throw new RangeError(`${method}: limit must be a non-negative integer, got ${limit}`);
  }
}

/**
 * A constraint or type violation means the op itself is wrong (not retryable); any
 * other failure (I/O, disk full, lock timeout) means durability is unknown.
 */
function classifyWriteError(err: unknown, batchSize: number): Error {
  if (err instanceof InvalidWriteError || err instanceof SeqTakenError) return err;
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === 'string' && (code.startsWith('SQLITE_CONSTRAINT') || code === 'SQLITE_MISMATCH')) {
    return new InvalidWriteError(`sqlite batch of ${batchSize} ops rolled back: an op is invalid (${code}: ${message})`, {
      cause: err,
    });
  }
  if (err instanceof TypeError || err instanceof RangeError) {
    // better-sqlite3 throws these for values it cannot bind (undefined, objects, bigints out of range).
    return new InvalidWriteError(`sqlite batch of ${batchSize} ops rolled back: an op has an unbindable value (${message})`, {
      cause: err,
    });
  }
  return new StoreUnavailableError(`sqlite batch of ${batchSize} ops failed: ${message}`, { cause: err });
}
