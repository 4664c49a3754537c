/**
 * The shell around the pure presence machine (presence.ts): feeds it the host
 * registry's opens and closes, subscriptions and settings, ticks it on a timer, and
 * carries out its effects (coalesced pushes through the outbox, lazy last-seen writes
 * through the batch writer). Subscriptions belong to a connection and die with it.
 */
import type { MessageStore } from '../store/store.js';
import { enforce } from './enforce.js';
import { usersRule } from './op_rules.js';
import { newPresence, step, unknownUsers, view, type PresenceConfig, type PresenceEffect, type PresenceEvent } from './presence.js';
import type { ConnRef } from './registry.js';
import type { Push } from './pushes.js';
import type { WriteOp } from '../store/types.js';
import type { PresenceView } from './ops.js';

export interface PresenceDeps {
  store: Pick<MessageStore, 'getPresence'>;
  writer: { submit(op: WriteOp): Promise<void> };
  push: (to: ConnRef[], p: Push) => void;
  now: () => number;
  /** A user changed their hide-last-seen setting here (a cluster tells the other nodes). */
  onHidden?: (user: string, hidden: boolean) => void;
}

export interface PresenceLimits extends PresenceConfig {
  maxSubscriptions: number;
}

const key = (r: { shard: number; conn: number }): string => `${r.shard}:${r.conn}`;

export class PresenceService {
  private readonly state = newPresence();
  /** Subscriber key -> its connection, to address pushes. */
  private readonly conns = new Map<string, ConnRef>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly deps: PresenceDeps,
    private readonly cfg: PresenceLimits,
  ) {
    // A quarter interval: a push waits at most that long past its interval.
    this.timer = setInterval(() => this.feed({ t: 'tick' }), Math.max(10, Math.floor(Math.min(cfg.intervalMs, Math.max(cfg.debounceMs, 40)) / 4)));
    this.timer.unref();
  }

  opened(ref: ConnRef): void {
    this.feed({ t: 'open', user: ref.user });
  }

  closed(ref: ConnRef): void {
    const k = key(ref);
    if (this.conns.delete(k)) this.feed({ t: 'drop', sub: k });
    this.feed({ t: 'close', user: ref.user });
  }

  /**
   * A connection of `user` on another cluster node (one per route: user, device,
   * node) appeared or went away. Counted with the local ones, so a user is online
   * while any node holds a connection of theirs, and the same debounce applies.
   */
  remoteOpened(user: string): void {
    this.feed({ t: 'open', user });
  }

  remoteClosed(user: string): void {
    this.feed({ t: 'close', user });
  }

  /** Replace the connection's interest set; returns the current view of each user. */
  async subscribe(conn: ConnRef, users: string[]): Promise<PresenceView[]> {
    const wanted = [...new Set(users)];
    enforce(usersRule('users', wanted, this.cfg.maxSubscriptions));
    const k = key(conn);
    this.conns.set(k, conn);
    this.feed({ t: 'subscribe', sub: k, users: wanted });
    const missing = unknownUsers(this.state, wanted);
    // Presence is watched before the store answers, so a change meanwhile is not lost.
    const stored = missing.length ? await this.deps.store.getPresence(missing) : [];
    for (const p of stored) this.feed({ t: 'known', user: p.user, lastSeen: p.at, hidden: p.hidden });
    if (wanted.length === 0) this.conns.delete(k);
    return wanted.map((u) => view(this.state, u));
  }

  async setHidden(user: string, hidden: boolean): Promise<PresenceView> {
    const stored = unknownUsers(this.state, [user]).length ? await this.deps.store.getPresence([user]) : [];
    for (const p of stored) this.feed({ t: 'known', user: p.user, lastSeen: p.at, hidden: p.hidden });
    this.feed({ t: 'hide', user, hidden });
    this.deps.onHidden?.(user, hidden);
    return view(this.state, user);
  }

  /** Another cluster node stored this setting: apply it here (only if the user is held here). */
  remoteHidden(user: string, hidden: boolean): void {
    if (unknownUsers(this.state, [user]).length) return; // loaded from the store when needed
    for (const eff of step(this.state, { t: 'hide', user, hidden }, this.deps.now(), this.cfg)) if (eff.t !== 'persist') this.effect(eff);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private feed(e: PresenceEvent): void {
    for (const eff of step(this.state, e, this.deps.now(), this.cfg)) this.effect(eff);
  }

  private effect(e: PresenceEffect): void {
    if (e.t === 'persist') {
      // Lazy and best effort: a lost last-seen write only makes it older after a restart.
      this.deps.writer.submit({ kind: 'presence', user: e.user, lastSeenAt: e.lastSeenAt, hidden: e.hidden }).catch(() => {});
      return;
    }
    const ref = this.conns.get(e.sub);
    if (ref) this.deps.push([ref], { k: 'presence', users: e.users });
  }
}
