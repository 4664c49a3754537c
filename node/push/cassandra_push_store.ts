/**
 * PushStore on Cassandra: the tables of node/store/cassandra_schema/004_push.cql in
 * the message store's keyspace (applied by `npm run migrate` like every migration).
 *
 * Claims of sends are lightweight transactions (INSERT ... IF NOT EXISTS, UPDATE ...
 * IF claimer = ?), so two nodes that both believe they own a shard for a moment cannot
 * both claim one (device, conversation, seq). Everything else is a plain idempotent
 * write at the store's consistency.
 */
import cassandra from 'cassandra-driver';
import type { PushStore } from './push_store.js';
import type { ClaimResult, OwedPush, PushRegistration, RegisterResult, SendKey } from './types.js';
import { tokenHash } from './tokens.js';
import { checkKeyspace } from '../store/cassandra_schema/migrate.js';

/** Users per IN query: keeps one request's partitions few (Cassandra fans an IN out per partition). */
const IN_CHUNK = 50;

export class CassandraPushStore implements PushStore {
  readonly kind = 'cassandra';
  private readonly ks: string;
  private readonly serial: number;

  /** `owns`: close() shuts the client down (true when this store created it). */
  constructor(
    private readonly client: cassandra.Client,
    keyspace: string,
    private readonly owns = false,
    serial: 'serial' | 'localSerial' = 'localSerial',
  ) {
    this.ks = checkKeyspace(keyspace);
    this.serial = cassandra.types.consistencies[serial];
  }

  private exec(q: string, params: unknown[], lwt = false): Promise<cassandra.types.ResultSet> {
    return this.client.execute(q, params, { prepare: true, isIdempotent: !lwt, ...(lwt ? { serialConsistency: this.serial } : {}) });
  }

  async register(reg: PushRegistration): Promise<RegisterResult> {
    const dead = await this.exec(`SELECT at FROM ${this.ks}.push_dead_tokens WHERE token_hash = ?`, [tokenHash(reg.platform, reg.token)]);
    if (dead.rowLength > 0) return 'dead_token';
    await this.exec(`INSERT INTO ${this.ks}.push_devices (user, device, platform, push_token, app_id, mode, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`, [
      reg.user,
      reg.device,
      reg.platform,
      reg.token,
      reg.appId,
      reg.mode,
      cassandra.types.Long.fromNumber(reg.updatedAt),
    ]);
    return 'ok';
  }

  async unregister(user: string, device: string): Promise<boolean> {
    const had = await this.exec(`SELECT device FROM ${this.ks}.push_devices WHERE user = ? AND device = ?`, [user, device]);
    await this.exec(`DELETE FROM ${this.ks}.push_devices WHERE user = ? AND device = ?`, [user, device]);
    return had.rowLength > 0;
  }

  async devicesOf(users: readonly string[]): Promise<PushRegistration[]> {
    const all = [...new Set(users)];
    const out: PushRegistration[] = [];
    for (let i = 0; i < all.length; i += IN_CHUNK) {
      const rs = await this.exec(`SELECT user, device, platform, push_token, app_id, mode, updated_at FROM ${this.ks}.push_devices WHERE user IN ?`, [all.slice(i, i + IN_CHUNK)]);
      for (const r of rs.rows) {
        out.push({
          user: r.get('user'),
          device: r.get('device'),
          platform: r.get('platform'),
          token: r.get('push_token'),
          appId: r.get('app_id'),
          mode: r.get('mode'),
          updatedAt: Number(r.get('updated_at')),
        });
      }
    }
    return out;
  }

  async removeDeadToken(user: string, device: string, token: string): Promise<boolean> {
    const rs = await this.exec(`SELECT platform, push_token FROM ${this.ks}.push_devices WHERE user = ? AND device = ?`, [user, device]);
    const row = rs.first();
    if (!row || row.get('push_token') !== token) return false;
    await this.exec(`INSERT INTO ${this.ks}.push_dead_tokens (token_hash, at) VALUES (?, ?)`, [tokenHash(row.get('platform'), token), cassandra.types.Long.fromNumber(Date.now())]);
    const del = await this.exec(`DELETE FROM ${this.ks}.push_devices WHERE user = ? AND device = ? IF push_token = ?`, [user, device, token], true);
    return applied(del);
  }

  async setMute(user: string, conversation: string, untilMs: number): Promise<void> {
    if (untilMs <= 0) await this.exec(`DELETE FROM ${this.ks}.push_mutes WHERE user = ? AND conversation = ?`, [user, conversation]);
    else await this.exec(`INSERT INTO ${this.ks}.push_mutes (user, conversation, until) VALUES (?, ?, ?)`, [user, conversation, cassandra.types.Long.fromNumber(untilMs)]);
  }

  async mutes(users: readonly string[], conversation: string): Promise<Map<string, number>> {
    const all = [...new Set(users)];
    const out = new Map<string, number>();
    for (let i = 0; i < all.length; i += IN_CHUNK) {
      const rs = await this.exec(`SELECT user, until FROM ${this.ks}.push_mutes WHERE user IN ? AND conversation = ?`, [all.slice(i, i + IN_CHUNK), conversation]);
      for (const r of rs.rows) out.set(r.get('user'), Number(r.get('until')));
    }
    return out;
  }

  async addOwed(entries: readonly OwedPush[]): Promise<void> {
    if (entries.length === 0) return;
    // One unlogged batch per shard partition (usually one: a commit's messages of one shard).
    const byShard = new Map<number, OwedPush[]>();
    for (const e of entries) {
      let l = byShard.get(e.shard);
      if (!l) byShard.set(e.shard, (l = []));
      l.push(e);
    }
    const q = `INSERT INTO ${this.ks}.push_owed (shard, conversation, seq, message_id, sender, sender_device, owed_at) VALUES (?, ?, ?, ?, ?, ?, ?)`;
    await Promise.all(
      [...byShard.values()].map(async (list) => {
        for (let i = 0; i < list.length; i += 100) {
          const stmts = list.slice(i, i + 100).map((e) => ({
            query: q,
            params: [e.shard, e.conversation, cassandra.types.Long.fromNumber(e.seq), e.messageId, e.sender, e.senderDevice, cassandra.types.Long.fromNumber(e.owedAt)],
          }));
          await this.client.batch(stmts, { prepare: true, logged: false, isIdempotent: true });
        }
      }),
    );
  }

  async owed(shard: number, limit: number): Promise<OwedPush[]> {
    const rs = await this.exec(`SELECT shard, conversation, seq, message_id, sender, sender_device, owed_at FROM ${this.ks}.push_owed WHERE shard = ? LIMIT ?`, [shard, limit]);
    return rs.rows.map((r) => ({
      shard: r.get('shard'),
      conversation: r.get('conversation'),
      seq: Number(r.get('seq')),
      messageId: r.get('message_id'),
      sender: r.get('sender'),
      senderDevice: r.get('sender_device'),
      owedAt: Number(r.get('owed_at')),
    }));
  }

  async settle(entries: ReadonlyArray<Pick<OwedPush, 'shard' | 'conversation' | 'seq'>>): Promise<void> {
    const q = `DELETE FROM ${this.ks}.push_owed WHERE shard = ? AND conversation = ? AND seq = ?`;
    for (let i = 0; i < entries.length; i += 100) {
      const stmts = entries.slice(i, i + 100).map((e) => ({ query: q, params: [e.shard, e.conversation, cassandra.types.Long.fromNumber(e.seq)] }));
      await this.client.batch(stmts, { prepare: true, logged: false, isIdempotent: true });
    }
  }

  async claimSend(key: SendKey, claimer: string): Promise<ClaimResult> {
    const rs = await this.exec(
      `INSERT INTO ${this.ks}.push_sends (user, device, conversation, seq, claimer, sent, at) VALUES (?, ?, ?, ?, ?, false, ?) IF NOT EXISTS`,
      [key.user, key.device, key.conversation, cassandra.types.Long.fromNumber(key.seq), claimer, cassandra.types.Long.fromNumber(Date.now())],
      true,
    );
    if (applied(rs)) return { state: 'claimed' };
    const row = rs.first();
    if (row.get('sent')) return { state: 'sent' };
    const by = row.get('claimer') as string;
    return by === claimer ? { state: 'claimed' } : { state: 'held', by };
  }

  async takeOverClaim(key: SendKey, from: string, to: string): Promise<boolean> {
    const rs = await this.exec(
      `UPDATE ${this.ks}.push_sends SET claimer = ?, at = ? WHERE user = ? AND device = ? AND conversation = ? AND seq = ? IF claimer = ? AND sent = false`,
      [to, cassandra.types.Long.fromNumber(Date.now()), key.user, key.device, key.conversation, cassandra.types.Long.fromNumber(key.seq), from],
      true,
    );
    return applied(rs);
  }

  async markSent(key: SendKey): Promise<void> {
    // Conditional like the claims (mixing plain writes and LWTs on one row can reorder them).
    await this.exec(
      `UPDATE ${this.ks}.push_sends SET sent = true, at = ? WHERE user = ? AND device = ? AND conversation = ? AND seq = ? IF EXISTS`,
      [cassandra.types.Long.fromNumber(Date.now()), key.user, key.device, key.conversation, cassandra.types.Long.fromNumber(key.seq)],
      true,
    ).then(async (rs) => {
      if (!applied(rs)) {
        await this.exec(
          `INSERT INTO ${this.ks}.push_sends (user, device, conversation, seq, claimer, sent, at) VALUES (?, ?, ?, ?, '', true, ?) IF NOT EXISTS`,
          [key.user, key.device, key.conversation, cassandra.types.Long.fromNumber(key.seq), cassandra.types.Long.fromNumber(Date.now())],
          true,
        );
      }
    });
  }

  async lastSent(user: string, device: string, conversation: string): Promise<number> {
    // Newest first (clustering seq DESC); a claim not yet sent is skipped.
    const rs = await this.exec(`SELECT seq, sent FROM ${this.ks}.push_sends WHERE user = ? AND device = ? AND conversation = ? LIMIT 100`, [user, device, conversation]);
    for (const r of rs.rows) if (r.get('sent')) return Number(r.get('seq'));
    return 0;
  }

  async close(): Promise<void> {
    if (this.owns) await this.client.shutdown();
  }
}

function applied(rs: cassandra.types.ResultSet): boolean {
  return rs.wasApplied();
}
