/**
 * PushStore on embedded SQLite (better-sqlite3), for a single node: its own file
 * (`<node.dataDir>/push.sqlite` by default), so the message store's schema and its
 * transactions stay untouched. WAL with synchronous=FULL like the message store: an
 * owed push written before a message commit is on disk before that commit starts.
 *
 * Two connections to the one file. Owed rows (and registrations) go through one with
 * synchronous=FULL: an owed row must survive a power loss as surely as the message
 * commit it precedes. Send claims, marks and settles go through one with
 * synchronous=NORMAL: in WAL mode a commit there survives a process crash (the OS has
 * it) but may be lost with the last moments before a power loss, which costs at most a
 * repeated push after such a loss (PUSH.md), and it spares the node's one thread an
 * fsync per push (measured: send -> ack p50 5 -> 56 ms with them FULL, PUSH.md).
 *
 * Group commit: writes issued in one event-loop turn run in one transaction per
 * connection on the next turn, so they share one commit (~130 pushes/s with a
 * transaction per write). Each write's promise resolves only after its transaction
 * committed, and the outbox reads only what it has awaited.
 */
import Database from 'better-sqlite3';
import { openDurableSqlite } from '../store/sqlite_file.js';
import type { PushStore } from './push_store.js';
import type { ClaimResult, OwedPush, PushRegistration, RegisterResult, SendKey } from './types.js';
import { tokenHash } from './tokens.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS push_devices (
  user TEXT NOT NULL, device TEXT NOT NULL, platform TEXT NOT NULL, token TEXT NOT NULL,
  app_id TEXT NOT NULL, mode TEXT NOT NULL CHECK (mode IN ('wake', 'preview')), updated_at INTEGER NOT NULL,
  PRIMARY KEY (user, device)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS push_mutes (
  user TEXT NOT NULL, conversation TEXT NOT NULL, until INTEGER NOT NULL,
  PRIMARY KEY (user, conversation)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS push_dead_tokens (token_hash TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS push_owed (
  shard INTEGER NOT NULL, conversation TEXT NOT NULL, seq INTEGER NOT NULL CHECK (seq >= 1),
  message_id TEXT NOT NULL, sender TEXT NOT NULL, sender_device TEXT NOT NULL, owed_at INTEGER NOT NULL,
  PRIMARY KEY (shard, conversation, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS push_sends (
  user TEXT NOT NULL, device TEXT NOT NULL, conversation TEXT NOT NULL, seq INTEGER NOT NULL,
  claimer TEXT NOT NULL, sent INTEGER NOT NULL DEFAULT 0, at INTEGER NOT NULL,
  PRIMARY KEY (user, device, conversation, seq)
) WITHOUT ROWID;
`;

/**
 * Send records older than this are deleted (Cassandra: the table's TTL): they only
 * guard against a second send of a push owed within the outbox's lifetime (push.ttlMs,
 * at most 28 days), and a week covers any outage the outbox retries through.
 */
const SEND_RECORD_KEEP_MS = 7 * 24 * 3_600_000;
/** How often that clean-up runs (it is one indexed delete). */
const PRUNE_EVERY_MS = 10 * 60_000;

interface DeviceRow {
  user: string;
  device: string;
  platform: string;
  token: string;
  app_id: string;
  mode: string;
  updated_at: number;
}

/** Writes of one event-loop turn on one connection, committed as one transaction. */
class GroupCommit {
  private queued: Array<{ run: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void }> = [];

  constructor(readonly db: Database.Database) {}

  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.queued.length === 0) setImmediate(() => this.flush());
      this.queued.push({ run: fn, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  flush(): void {
    const batch = this.queued;
    this.queued = [];
    if (batch.length === 0) return;
    const results: unknown[] = [];
    try {
      if (!this.db.open) throw new Error('push store closed');
      this.db.transaction(() => {
        for (const b of batch) results.push(b.run());
      })();
    } catch (e) {
      for (const b of batch) b.reject(e);
      return;
    }
    batch.forEach((b, i) => b.resolve(results[i]));
  }
}

export class SqlitePushStore implements PushStore {
  readonly kind = 'sqlite';
  /** synchronous=FULL: owed rows, registrations, mutes, dead tokens. */
  private readonly db: Database.Database;
  /** synchronous=NORMAL: send claims and marks, settles. */
  private readonly fast: Database.Database;
  private readonly durable: GroupCommit;
  private readonly relaxed: GroupCommit;
  private prunedAt = 0;

  constructor(readonly path: string) {
    // FULL: an owed push must be on disk before the message commit it precedes.
    this.db = openDurableSqlite(path, (db) => db.exec(SCHEMA));
    this.fast = new Database(path);
    this.fast.pragma('synchronous = NORMAL');
    this.fast.pragma('busy_timeout = 5000');
    this.durable = new GroupCommit(this.db);
    this.relaxed = new GroupCommit(this.fast);
  }

  private readonly statements = new Map<Database.Database, Map<string, Database.Statement>>();

  /** A prepared statement, compiled once per connection (compiling dominated small calls). */
  private q(db: Database.Database, sql: string): Database.Statement {
    let m = this.statements.get(db);
    if (!m) this.statements.set(db, (m = new Map()));
    let st = m.get(sql);
    if (!st) m.set(sql, (st = db.prepare(sql)));
    return st;
  }

  private maybePrune(): void {
    const now = Date.now();
    if (now - this.prunedAt < PRUNE_EVERY_MS) return;
    this.prunedAt = now;
    void this.relaxed.run(() => this.prune(now - SEND_RECORD_KEEP_MS)).catch(() => undefined);
  }

  /** Delete send records last touched before `before` (ms since epoch). Returns how many. */
  prune(before: number): number {
    return this.q(this.fast, 'DELETE FROM push_sends WHERE at < ?').run(before).changes;
  }

  async register(reg: PushRegistration): Promise<RegisterResult> {
    if (this.q(this.db, 'SELECT 1 FROM push_dead_tokens WHERE token_hash = ?').get(tokenHash(reg.platform, reg.token))) return 'dead_token';
    this.q(
      this.db,
      `INSERT INTO push_devices (user, device, platform, token, app_id, mode, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (user, device) DO UPDATE SET platform = excluded.platform, token = excluded.token, app_id = excluded.app_id,
         mode = excluded.mode, updated_at = excluded.updated_at`,
    ).run(reg.user, reg.device, reg.platform, reg.token, reg.appId, reg.mode, reg.updatedAt);
    return 'ok';
  }

  async unregister(user: string, device: string): Promise<boolean> {
    return this.q(this.db, 'DELETE FROM push_devices WHERE user = ? AND device = ?').run(user, device).changes > 0;
  }

  async devicesOf(users: readonly string[]): Promise<PushRegistration[]> {
    const out: PushRegistration[] = [];
    const q = this.q(this.db, 'SELECT * FROM push_devices WHERE user = ?');
    for (const u of new Set(users)) for (const r of q.all(u) as DeviceRow[]) out.push(regOf(r));
    return out;
  }

  async removeDeadToken(user: string, device: string, token: string): Promise<boolean> {
    let removed = false;
    this.db.transaction(() => {
      const reg = this.q(this.db, 'SELECT platform FROM push_devices WHERE user = ? AND device = ? AND token = ?').get(user, device, token) as { platform: string } | undefined;
      if (reg) {
        this.q(this.db, 'INSERT INTO push_dead_tokens (token_hash, at) VALUES (?, ?) ON CONFLICT DO NOTHING').run(tokenHash(reg.platform, token), Date.now());
        removed = this.q(this.db, 'DELETE FROM push_devices WHERE user = ? AND device = ? AND token = ?').run(user, device, token).changes > 0;
      }
    })();
    return removed;
  }

  async setMute(user: string, conversation: string, untilMs: number): Promise<void> {
    if (untilMs <= 0) this.q(this.db, 'DELETE FROM push_mutes WHERE user = ? AND conversation = ?').run(user, conversation);
    else
      this.q(this.db, 'INSERT INTO push_mutes (user, conversation, until) VALUES (?, ?, ?) ON CONFLICT (user, conversation) DO UPDATE SET until = excluded.until')
        .run(user, conversation, untilMs);
  }

  async mutes(users: readonly string[], conversation: string): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const q = this.q(this.db, 'SELECT until FROM push_mutes WHERE user = ? AND conversation = ?');
    for (const u of new Set(users)) {
      const r = q.get(u, conversation) as { until: number } | undefined;
      if (r) out.set(u, r.until);
    }
    return out;
  }

  async addOwed(entries: readonly OwedPush[]): Promise<void> {
    if (entries.length === 0) return;
    await this.durable.run(() => this.addOwedNow(entries));
  }

  private addOwedNow(entries: readonly OwedPush[]): void {
    const q = this.q(
      this.db,
      `INSERT INTO push_owed (shard, conversation, seq, message_id, sender, sender_device, owed_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (shard, conversation, seq) DO UPDATE SET message_id = excluded.message_id, sender = excluded.sender,
         sender_device = excluded.sender_device, owed_at = excluded.owed_at`,
    );
    for (const e of entries) q.run(e.shard, e.conversation, e.seq, e.messageId, e.sender, e.senderDevice, e.owedAt);
  }

  async owed(shard: number, limit: number): Promise<OwedPush[]> {
    const rows = this.q(this.db, 'SELECT * FROM push_owed WHERE shard = ? ORDER BY conversation, seq LIMIT ?').all(shard, limit) as Array<{
      shard: number;
      conversation: string;
      seq: number;
      message_id: string;
      sender: string;
      sender_device: string;
      owed_at: number;
    }>;
    return rows.map((r) => ({ shard: r.shard, conversation: r.conversation, seq: r.seq, messageId: r.message_id, sender: r.sender, senderDevice: r.sender_device, owedAt: r.owed_at }));
  }

  async settle(entries: ReadonlyArray<Pick<OwedPush, 'shard' | 'conversation' | 'seq'>>): Promise<void> {
    if (entries.length === 0) return;
    const q = this.q(this.fast, 'DELETE FROM push_owed WHERE shard = ? AND conversation = ? AND seq = ?');
    await this.relaxed.run(() => {
      for (const e of entries) q.run(e.shard, e.conversation, e.seq);
    });
  }

  claimSend(key: SendKey, claimer: string): Promise<ClaimResult> {
    this.maybePrune();
    return this.relaxed.run(() => this.claimNow(key, claimer));
  }

  private claimNow(key: SendKey, claimer: string): ClaimResult {
    const ins = this.q(this.fast, 'INSERT INTO push_sends (user, device, conversation, seq, claimer, sent, at) VALUES (?, ?, ?, ?, ?, 0, ?) ON CONFLICT DO NOTHING')
      .run(key.user, key.device, key.conversation, key.seq, claimer, Date.now());
    if (ins.changes > 0) return { state: 'claimed' };
    const r = this.q(this.fast, 'SELECT claimer, sent FROM push_sends WHERE user = ? AND device = ? AND conversation = ? AND seq = ?')
      .get(key.user, key.device, key.conversation, key.seq) as { claimer: string; sent: number };
    if (r.sent) return { state: 'sent' };
    return r.claimer === claimer ? { state: 'claimed' } : { state: 'held', by: r.claimer };
  }

  takeOverClaim(key: SendKey, from: string, to: string): Promise<boolean> {
    return this.relaxed.run(
      () =>
        this.q(this.fast, 'UPDATE push_sends SET claimer = ?, at = ? WHERE user = ? AND device = ? AND conversation = ? AND seq = ? AND claimer = ? AND sent = 0')
          .run(to, Date.now(), key.user, key.device, key.conversation, key.seq, from).changes > 0,
    );
  }

  async markSent(key: SendKey): Promise<void> {
    await this.relaxed.run(() =>
      this.q(
        this.fast,
        `INSERT INTO push_sends (user, device, conversation, seq, claimer, sent, at) VALUES (?, ?, ?, ?, '', 1, ?)
         ON CONFLICT (user, device, conversation, seq) DO UPDATE SET sent = 1, at = excluded.at`,
      )
      .run(key.user, key.device, key.conversation, key.seq, Date.now()),
    );
  }

  async lastSent(user: string, device: string, conversation: string): Promise<number> {
    const r = this.q(this.db, 'SELECT MAX(seq) AS s FROM push_sends WHERE user = ? AND device = ? AND conversation = ? AND sent = 1').get(user, device, conversation) as { s: number | null };
    return r.s ?? 0;
  }

  async close(): Promise<void> {
    this.durable.flush();
    this.relaxed.flush();
    if (this.fast.open) this.fast.close();
    if (this.db.open) this.db.close();
  }
}

function regOf(r: DeviceRow): PushRegistration {
  return { user: r.user, device: r.device, platform: r.platform as PushRegistration['platform'], token: r.token, appId: r.app_id, mode: r.mode as PushRegistration['mode'], updatedAt: r.updated_at };
}
