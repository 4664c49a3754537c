/**
 * PushStore: the durable state of push notifications. Two implementations pass one
 * conformance suite (./push_conformance.ts): SQLite (embedded, ./sqlite_push_store.ts)
 * and Cassandra (./cassandra_push_store.ts, tables in
 * node/store/cassandra_schema/004_push.cql).
 *
 * Four kinds of rows: registrations (where a device's pushes go), mutes (per user and
 * conversation), owed pushes (the outbox: one per durable message until settled) and
 * send records (the idempotency key of each provider send, claimed before the send and
 * marked sent after it). PUSH.md explains how they make "owed the moment the message
 * is durable" and "at most once per (device, conversation, seq) in practice" hold.
 */
import type { ClaimResult, OwedPush, PushRegistration, RegisterResult, SendKey } from './types.js';

export interface PushStore {
  /** 'sqlite' | 'cassandra', for logs. */
  readonly kind: string;

  /**
   * Insert or replace the registration of (user, device). A token a provider reported
   * as unregistered is refused ('dead_token'): it is never used again.
   */
  register(reg: PushRegistration): Promise<RegisterResult>;

  /** Remove the registration of (user, device). Resolves whether there was one. */
  unregister(user: string, device: string): Promise<boolean>;

  /** Every registration of these users (order unspecified). */
  devicesOf(users: readonly string[]): Promise<PushRegistration[]>;

  /**
   * A provider said `token` is dead: remove the registration of (user, device) if it
   * still holds that token (a newer registration stays) and record the token as dead
   * so register() refuses it. Resolves whether a registration was removed.
   */
  removeDeadToken(user: string, device: string, token: string): Promise<boolean>;

  /** Mute the conversation for the user until `untilMs` (ms since epoch); 0 unmutes. */
  setMute(user: string, conversation: string, untilMs: number): Promise<void>;

  /** Users of `users` with a mute of the conversation, with its end (expired mutes may be included). */
  mutes(users: readonly string[], conversation: string): Promise<Map<string, number>>;

  /** Record owed pushes (idempotent: the same (shard, conversation, seq) again is a no-op or an identical overwrite). */
  addOwed(entries: readonly OwedPush[]): Promise<void>;

  /** Owed pushes of one shard, oldest conversation/seq order not guaranteed, at most `limit`. */
  owed(shard: number, limit: number): Promise<OwedPush[]>;

  /** Remove settled entries (idempotent). */
  settle(entries: ReadonlyArray<Pick<OwedPush, 'shard' | 'conversation' | 'seq'>>): Promise<void>;

  /** Claim the send of `key` for `claimer` (see ClaimResult). */
  claimSend(key: SendKey, claimer: string): Promise<ClaimResult>;

  /** Move a claim held by `from` (and not sent) to `to`. Resolves whether it moved. */
  takeOverClaim(key: SendKey, from: string, to: string): Promise<boolean>;

  /** Record that the send of `key` went out (the provider accepted it) or was settled otherwise. */
  markSent(key: SendKey): Promise<void>;

  /** Highest seq of (user, device, conversation) recorded as sent; 0 when none. */
  lastSent(user: string, device: string, conversation: string): Promise<number>;

  close(): Promise<void>;
}
