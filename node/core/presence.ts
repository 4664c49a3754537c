/**
 * Presence as a pure state machine: step(state, event, now) -> effects (state is
 * updated in place, as shards/session.ts does). The shell (presence_service.ts) feeds
 * it connection opens/closes from the host registry, subscriptions, settings and a
 * clock tick, and carries out the effects. Nothing here knows about sockets or nodes:
 * a cluster can feed it the same events from other nodes.
 *
 * Why it does not storm:
 * - Debounce: a user whose last connection closes stays "online" for debounceMs; a
 *   reconnect inside that window changes nothing anyone can see.
 * - Coalescing: a change only marks the user pending for each subscriber; a
 *   subscriber gets one frame per intervalMs at most, carrying every pending user.
 *   Over a storm of duration D a subscriber therefore gets <= ceil(D / I) + 1 frames,
 *   however many users change.
 * - Interest scoping: only subscribers of a user hear about it (subscriptions are
 *   bounded per connection by the shell).
 * - Lazy writes: last seen is persisted once per offline transition, after the
 *   debounce, never per heartbeat.
 */
import type { PresenceView } from './ops.js';

export interface PresenceConfig {
  debounceMs: number;
  intervalMs: number;
}


interface UserState {
  /** Open connections of the user (all devices, all shards). */
  conns: number;
  /** What subscribers were told. */
  online: boolean;
  lastSeen: number;
  hidden: boolean;
  /** Last connection closed at this time; offline is published at offlineAt. */
  closedAt: number;
  offlineAt: number | null;
}

interface Subscriber {
  users: Set<string>;
  pending: Set<string>;
  /** When the last push went out (-Infinity: never). */
  lastSentAt: number;
}

export interface PresenceState {
  readonly users: Map<string, UserState>;
  readonly subs: Map<string, Subscriber>;
  /** user -> subscriber keys watching it */
  readonly watchers: Map<string, Set<string>>;
  /** Subscribers with something pending (so a tick does not scan all of them). */
  readonly dirty: Set<string>;
  /** Users waiting for their offline debounce to end. */
  readonly debouncing: Set<string>;
}

export type PresenceEvent =
  | { t: 'open'; user: string }
  | { t: 'close'; user: string }
  /** Replace a subscriber's interest set. */
  | { t: 'subscribe'; sub: string; users: string[] }
  /** The subscriber's connection is gone. */
  | { t: 'drop'; sub: string }
  /** Stored presence, loaded for a user this state does not hold yet (ignored otherwise). */
  | { t: 'known'; user: string; lastSeen: number; hidden: boolean }
  | { t: 'hide'; user: string; hidden: boolean }
  | { t: 'tick' };

export type PresenceEffect =
  /** A coalesced push to one subscriber. */
  | { t: 'push'; sub: string; users: PresenceView[] }
  /** Write through the batch writer (lazy: once per offline transition or setting change). */
  | { t: 'persist'; user: string; lastSeenAt: number | null; hidden: boolean | null };

export function newPresence(): PresenceState {
  return { users: new Map(), subs: new Map(), watchers: new Map(), dirty: new Set(), debouncing: new Set() };
}

function user(s: PresenceState, id: string): UserState {
  let u = s.users.get(id);
  if (!u) s.users.set(id, (u = { conns: 0, online: false, lastSeen: 0, hidden: false, closedAt: 0, offlineAt: null }));
  return u;
}

/** Mark `id` pending for everyone watching it. */
function changed(s: PresenceState, id: string): void {
  for (const k of s.watchers.get(id) ?? []) {
    s.subs.get(k)!.pending.add(id);
    s.dirty.add(k);
  }
}

/** Forget a user nobody needs in memory: offline, settled, unwatched (the store has it). */
function maybeForget(s: PresenceState, id: string): void {
  const u = s.users.get(id);
  if (u && u.conns === 0 && u.offlineAt === null && !s.watchers.has(id)) s.users.delete(id);
}

export function view(s: PresenceState, id: string): PresenceView {
  const u = s.users.get(id);
  if (!u) return { user: id, online: false, lastSeenMs: 0, lastSeenHidden: false };
  return { user: id, online: u.online, lastSeenMs: u.online || u.hidden ? 0 : u.lastSeen, lastSeenHidden: u.hidden };
}

/** Users of `ids` this state holds nothing about (the shell loads them from the store). */
export function unknownUsers(s: PresenceState, ids: Iterable<string>): string[] {
  const out: string[] = [];
  for (const id of ids) if (!s.users.has(id)) out.push(id);
  return out;
}

export function step(s: PresenceState, e: PresenceEvent, now: number, cfg: PresenceConfig): PresenceEffect[] {
  switch (e.t) {
    case 'open': {
      const u = user(s, e.user);
      u.conns++;
      if (u.offlineAt !== null) {
        // Back within the debounce window: subscribers never saw it leave.
        u.offlineAt = null;
        s.debouncing.delete(e.user);
      }
      if (!u.online) {
        u.online = true;
        changed(s, e.user);
      }
      return [];
    }
    case 'close': {
      const u = s.users.get(e.user);
      if (!u || u.conns === 0) return [];
      u.conns--;
      if (u.conns === 0) {
        u.closedAt = now;
        u.offlineAt = now + cfg.debounceMs;
        s.debouncing.add(e.user);
      }
      return [];
    }
    case 'subscribe': {
      const sub = s.subs.get(e.sub) ?? { users: new Set<string>(), pending: new Set<string>(), lastSentAt: -Infinity };
      const next = new Set(e.users);
      for (const id of sub.users) {
        if (next.has(id)) continue;
        const w = s.watchers.get(id);
        w?.delete(e.sub);
        if (w && w.size === 0) s.watchers.delete(id);
        sub.pending.delete(id);
        maybeForget(s, id);
      }
      for (const id of next) {
        let w = s.watchers.get(id);
        if (!w) s.watchers.set(id, (w = new Set()));
        w.add(e.sub);
        user(s, id);
      }
      sub.users = next;
      // The shell replies with the full current view; nothing older stays pending.
      sub.pending.clear();
      s.dirty.delete(e.sub);
      if (next.size === 0) s.subs.delete(e.sub);
      else s.subs.set(e.sub, sub);
      return [];
    }
    case 'drop': {
      const sub = s.subs.get(e.sub);
      if (!sub) return [];
      s.subs.delete(e.sub);
      s.dirty.delete(e.sub);
      for (const id of sub.users) {
        const w = s.watchers.get(id);
        w?.delete(e.sub);
        if (w && w.size === 0) s.watchers.delete(id);
        maybeForget(s, id);
      }
      return [];
    }
    case 'known': {
      const u = s.users.get(e.user);
      // Only fill a blank: in-memory state is always at least as new as the store.
      if (u && u.conns === 0 && !u.online && u.lastSeen === 0 && u.offlineAt === null) {
        u.lastSeen = e.lastSeen;
        u.hidden = e.hidden;
      }
      return [];
    }
    case 'hide': {
      const u = user(s, e.user);
      const effects: PresenceEffect[] = [{ t: 'persist', user: e.user, lastSeenAt: null, hidden: e.hidden }];
      if (u.hidden !== e.hidden) {
        u.hidden = e.hidden;
        changed(s, e.user);
      }
      maybeForget(s, e.user);
      return effects;
    }
    case 'tick': {
      const effects: PresenceEffect[] = [];
      for (const id of s.debouncing) {
        const u = s.users.get(id)!;
        if (u.offlineAt === null || u.offlineAt > now) continue;
        s.debouncing.delete(id);
        u.offlineAt = null;
        u.online = false;
        // Last seen is when the last connection closed, not when the debounce ended.
        u.lastSeen = u.closedAt;
        effects.push({ t: 'persist', user: id, lastSeenAt: u.closedAt, hidden: null });
        changed(s, id);
        maybeForget(s, id);
      }
      for (const k of s.dirty) {
        const sub = s.subs.get(k);
        if (!sub || sub.pending.size === 0) {
          s.dirty.delete(k);
          continue;
        }
        if (now - sub.lastSentAt < cfg.intervalMs) continue;
        effects.push({ t: 'push', sub: k, users: [...sub.pending].sort().map((id) => view(s, id)) });
        sub.pending.clear();
        sub.lastSentAt = now;
        s.dirty.delete(k);
      }
      return effects;
    }
  }
}
