/**
 * The durable push outbox: the I/O shell around the push rules (rules.ts) and the
 * slot machine (collapse.ts). PUSH.md has the whole story; in short:
 *
 *   owe(messages)            write-ahead: owed rows are durable before the messages' commit
 *   committed(msg, members)  the live path, right after the commit: plan the device pushes
 *   acquire(shard)           this node owns the shard now: resume what it owes (recovery)
 *   release(shard)           it does not: forget the shard's in-memory state
 *
 * A device push leaves a slot (device, conversation) when due: fenced by the
 * ownership epoch it was planned under, skipped when the device acked the seq
 * meanwhile, claimed durably under its idempotency key (device, conversation, seq),
 * sent within the provider's and the endpoint's caps, and then marked sent. An owed
 * row is settled (deleted) once every device push covering it is done.
 */
import type { StoredMessage } from '../store/types.js';
import type { PushOutcome, PushRequest } from './provider.js';
import type { OwedPush, PushRegistration, SendKey } from './types.js';
import { previewOf, pushTargets, unreadCount, type PushTarget } from './rules.js';
import { emptySlot, offer, retryDelay, type SlotState } from './collapse.js';
import { Caps, type CapLimit } from './caps.js';
import { redactToken } from './tokens.js';
import { createHash } from 'node:crypto';
import type { Log, OutboxDeps, OutboxOptions } from './outbox_deps.js';

interface OwedTrack {
  entry: OwedPush;
  /** Device pushes still covering it; the row is settled at 0. */
  outstanding: number;
}

interface Slot {
  key: string;
  user: string;
  device: string;
  conversation: string;
  epoch: number;
  state: SlotState;
  /** The newest message merged into the pending push (for a preview and the latency). */
  message: StoredMessage | null;
  covers: OwedTrack[];
  inflight: { covers: OwedTrack[] } | null;
  attempts: number;
  /** Planned from owed rows found in the store: a send may already have gone out. */
  recovered: boolean;
  timer: NodeJS.Timeout | null;
}

const SETTLE_FLUSH_MS = 50;

export class PushOutbox {
  private readonly owedMem = new Map<string, OwedTrack>();
  private readonly slots = new Map<string, Slot>();
  private readonly shards = new Set<number>();
  private readonly caps: Caps;
  private readonly toSettle: OwedPush[] = [];
  private settleTimer: NodeJS.Timeout | null = null;
  private rescanTimer: NodeJS.Timeout | null = null;
  private readonly recovering = new Map<number, Promise<void>>();
  private closed = false;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly log: Log;
  private readonly maxTracked: number;
  private readonly orphanGraceMs: number;
  /** Provider calls made (for tests and the benchmark). */
  calls = 0;

  constructor(
    private readonly deps: OutboxDeps,
    private readonly opts: OutboxOptions,
  ) {
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.log = deps.log ?? (() => undefined);
    this.caps = new Caps(this.now);
    this.maxTracked = opts.maxTracked ?? 100_000;
    this.orphanGraceMs = opts.orphanGraceMs ?? 60_000;
    this.rescanTimer = setInterval(() => {
      for (const s of this.shards) void this.recover(s);
    }, opts.rescanMs);
    this.rescanTimer.unref();
  }

  /** Owed messages and device pushes in memory (the outbox depth). */
  depth(): { owed: number; pending: number } {
    let pending = 0;
    for (const s of this.slots.values()) if (s.state.pending || s.inflight) pending++;
    return { owed: this.owedMem.size, pending };
  }

  // ------------------------------------------------------------------ intake

  /**
   * Write-ahead: record a push owed for each message before its commit starts. Rejects
   * when the push store cannot; the caller fails the commit (nothing is acked).
   */
  async owe(messages: readonly StoredMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const now = this.now();
    await this.deps.store.addOwed(messages.map((m) => this.entryOf(m, now)));
  }

  /** The live path: the message is durable; `members` are the conversation's members at its commit. */
  committed(message: StoredMessage, members: readonly string[]): void {
    if (this.closed) return;
    const epoch = this.deps.ownership.epochOf(message.conversation);
    if (epoch === null) return; // not ours: its owner (or the next one) plans it from the store
    const k = owedKey(message.conversation, message.seq);
    if (this.owedMem.has(k) || this.owedMem.size >= this.maxTracked) return;
    const track: OwedTrack = { entry: this.entryOf(message, this.now()), outstanding: 0 };
    this.owedMem.set(k, track);
    this.plan(track, message, members, epoch, false).catch((e: unknown) => this.planFailed(track, e));
  }

  /** This node owns `shard` now (single node: shard 0 at start): resume what it owes. */
  acquire(shard: number): Promise<void> {
    this.shards.add(shard);
    return this.recover(shard);
  }

  /** This node no longer owns `shard`: forget its in-memory state (the next owner resumes from the store). */
  release(shard: number): void {
    this.shards.delete(shard);
    for (const [k, t] of this.owedMem) if (t.entry.shard === shard) this.owedMem.delete(k);
    for (const [k, s] of this.slots) {
      if (this.deps.ownership.shardOf(s.conversation) !== shard) continue;
      if (s.timer) clearTimeout(s.timer);
      this.slots.delete(k);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.rescanTimer) clearInterval(this.rescanTimer);
    for (const s of this.slots.values()) if (s.timer) clearTimeout(s.timer);
    this.slots.clear();
    this.caps.close();
    await this.flushSettled();
  }

  // ------------------------------------------------------------------ planning

  private entryOf(m: StoredMessage, now: number): OwedPush {
    return { shard: this.deps.ownership.shardOf(m.conversation), conversation: m.conversation, seq: m.seq, messageId: m.messageId, sender: m.sender, senderDevice: m.senderDevice, owedAt: now };
  }

  private async plan(track: OwedTrack, message: StoredMessage, members: readonly string[], epoch: number, recovered: boolean): Promise<void> {
    const others = members.filter((u) => u !== message.sender);
    const devices = others.length ? await this.deps.store.devicesOf(others) : [];
    const users = [...new Set(devices.map((d) => d.user))];
    const mutedUntil = users.length ? await this.deps.store.mutes(users, message.conversation) : new Map<string, number>();
    const targets = pushTargets({
      message,
      members,
      devices,
      online: this.deps.online,
      mutedUntil,
      now: this.now(),
      ackWaitMs: this.opts.ackWaitMs,
    });
    if (this.closed || this.deps.ownership.epochOf(message.conversation) !== epoch) {
      this.owedMem.delete(owedKey(message.conversation, message.seq));
      return;
    }
    track.outstanding = targets.length;
    if (targets.length === 0) return this.settle(track);
    for (const t of targets) this.offerTo(t, track, message, epoch, recovered);
  }

  private planFailed(track: OwedTrack, e: unknown): void {
    // The row stays in the store; the rescan plans it again.
    this.owedMem.delete(owedKey(track.entry.conversation, track.entry.seq));
    this.deps.metrics?.failed.inc({ provider: 'none', reason: 'store' });
    this.log('warn', 'push planning failed; the rescan retries it', { conversation: track.entry.conversation, seq: track.entry.seq, error: String(e) });
  }

  private offerTo(t: PushTarget, track: OwedTrack, message: StoredMessage, epoch: number, recovered: boolean): void {
    const key = `${t.reg.user}\u0000${t.reg.device}\u0000${message.conversation}`;
    let s = this.slots.get(key);
    if (!s || s.epoch !== epoch) {
      if (s?.timer) clearTimeout(s.timer);
      s = { key, user: t.reg.user, device: t.reg.device, conversation: message.conversation, epoch, state: emptySlot(), message: null, covers: [], inflight: null, attempts: 0, recovered, timer: null };
      this.slots.set(key, s);
    }
    s.recovered ||= recovered;
    s.state = offer(s.state, message.seq, t.readyAt, t.unlessAcked, this.opts.collapseWindowMs);
    if (!s.message || message.seq >= s.message.seq) s.message = message;
    s.covers.push(track);
    this.schedule(s);
  }

  private schedule(s: Slot): void {
    if (s.inflight || !s.state.pending || this.closed) return;
    if (s.timer) clearTimeout(s.timer);
    const wait = Math.max(0, s.state.pending.dueAt - this.now());
    s.timer = setTimeout(() => {
      s.timer = null;
      void this.fire(s);
    }, wait);
    s.timer.unref();
  }

  // ------------------------------------------------------------------ sending

  private async fire(s: Slot): Promise<void> {
    const p = s.state.pending;
    if (!p || s.inflight || this.closed) return;
    if (this.slots.get(s.key) !== s) return;
    if (this.deps.ownership.epochOf(s.conversation) !== s.epoch) {
      // Fenced: the shard moved. Its next owner resumes from the owed rows.
      this.slots.delete(s.key);
      return;
    }
    const message = s.message!;
    s.state = { ...s.state, pending: null };
    s.inflight = { covers: s.covers };
    s.covers = [];
    const key: SendKey = { user: s.user, device: s.device, conversation: s.conversation, seq: p.seq };
    let reg: PushRegistration | undefined;
    try {
      reg = (await this.deps.store.devicesOf([s.user])).find((r) => r.device === s.device);
      if (!reg) return this.done(s, false, 'skip', 'unregistered_device');
      const cursors = await this.deps.messages.getCursors(s.conversation);
      const mine = cursors.find((c) => c.user === s.user && c.device === s.device);
      if (mine && mine.delivered >= p.seq) return this.done(s, false, 'skip', 'acked');
      if (s.recovered && (await this.deps.store.lastSent(s.user, s.device, s.conversation)) >= p.seq) return this.done(s, false, 'skip', 'already_sent');
      const claim = await this.deps.store.claimSend(key, this.deps.claimer);
      if (claim.state === 'sent') return this.done(s, false, 'skip', 'already_sent');
      if (claim.state === 'held' && !(await this.deps.store.takeOverClaim(key, claim.by, this.deps.claimer))) return this.done(s, false, 'skip', 'already_sent');
      const provider = this.deps.providers(reg.platform);
      if (!provider) return this.done(s, false, 'drop', 'no_provider', reg.platform);
      const expiresAt = message.serverTs + this.opts.ttlMs;
      if (this.now() >= expiresAt) return this.done(s, false, 'drop', 'expired', reg.platform, key);
      const release = await this.caps.acquire(this.capKeys(reg));
      let outcome: PushOutcome;
      try {
        // The waits above may have spanned a handover: fence again right before the call.
        if (this.closed || this.deps.ownership.epochOf(s.conversation) !== s.epoch) {
          this.slots.delete(s.key);
          return;
        }
        const req: PushRequest = {
          device: { user: reg.user, device: reg.device, platform: reg.platform, token: reg.token, appId: reg.appId, mode: reg.mode },
          conversation: s.conversation,
          seq: p.seq,
          collapseId: collapseIdOf(s.conversation),
          unread: unreadCount(p.seq, cursors.filter((c) => c.user === s.user).map((c) => c.read)),
          preview: previewOf(reg.mode, message),
          expiresAt,
        };
        this.calls++;
        outcome = await provider.send(req);
      } finally {
        release();
      }
      await this.outcome(s, reg, key, message, outcome);
    } catch (e) {
      this.deps.metrics?.failed.inc({ provider: reg?.platform ?? 'none', reason: 'store' });
      this.log('warn', 'push attempt failed on the push store; retrying', { conversation: s.conversation, seq: p.seq, error: String(e) });
      this.retry(s, p.seq, null, reg);
    }
  }

  private async outcome(s: Slot, reg: PushRegistration, key: SendKey, message: StoredMessage, o: PushOutcome): Promise<void> {
    const provider = reg.platform;
    switch (o.kind) {
      case 'sent':
        await this.deps.store.markSent(key);
        this.deps.metrics?.sent.inc({ provider });
        this.deps.metrics?.latency.observe({ provider }, Math.max(0, this.now() - message.serverTs) / 1000);
        return this.done(s, true);
      case 'retry':
        // The label is the HTTP status, or `network` (status 0: refused, reset, timed out):
        // o.reason is free text (addresses, provider messages) and would grow series without bound.
        this.deps.metrics?.failed.inc({ provider, reason: o.status > 0 ? String(o.status) : 'network' });
        if (o.afterMs !== null) this.caps.pause(endpointKey(reg), this.now() + o.afterMs);
        return this.retry(s, key.seq, o.afterMs, reg);
      case 'unregistered': {
        const removed = await this.deps.store.removeDeadToken(reg.user, reg.device, reg.token);
        this.log('info', 'push token reported unregistered; registration removed', { user: reg.user, device: reg.device, platform: provider, token: redactToken(reg.token), reason: o.reason, removed });
        await this.deps.store.markSent(key);
        return this.done(s, false, 'drop', 'unregistered', provider);
      }
      case 'rejected':
        this.log('warn', 'push rejected by the provider; dropped', { user: reg.user, device: reg.device, platform: provider, reason: o.reason, status: o.status });
        await this.deps.store.markSent(key);
        return this.done(s, false, 'drop', 'rejected', provider);
    }
  }

  private retry(s: Slot, seq: number, afterMs: number | null, reg: PushRegistration | undefined): void {
    const covers = s.inflight?.covers ?? [];
    s.inflight = null;
    s.attempts++;
    const provider = reg?.platform ?? 'none';
    if (s.attempts >= this.opts.maxAttempts) {
      s.inflight = { covers };
      return this.done(s, false, 'drop', 'attempts', provider);
    }
    const due = this.now() + retryDelay(s.attempts, this.opts.retryBaseMs, this.opts.retryMaxMs, afterMs, this.random);
    const p = s.state.pending;
    // Merge back: messages that arrived meanwhile ride along (newest seq wins), and the
    // retry time holds for all of them.
    s.state = { ...s.state, pending: { seq: Math.max(seq, p?.seq ?? 0), dueAt: Math.max(due, p?.dueAt ?? 0), unlessAcked: false } };
    s.covers = [...covers, ...s.covers];
    this.schedule(s);
  }

  /** The in-flight push of the slot is over (sent, skipped or dropped): settle what it covered. */
  private done(s: Slot, sent: boolean, kind?: 'skip' | 'drop', reason?: string, provider?: string, key?: SendKey): void {
    if (kind === 'skip') this.deps.metrics?.skipped.inc({ reason: reason! });
    if (kind === 'drop') {
      this.deps.metrics?.dropped.inc({ provider: provider ?? 'none', reason: reason! });
      if (key) void this.deps.store.markSent(key).catch(() => undefined);
    }
    const covers = s.inflight?.covers ?? [];
    s.inflight = null;
    s.attempts = 0;
    if (sent) {
      s.state = { ...s.state, lastPushAt: this.now() };
      if (s.state.pending) s.state = { ...s.state, pending: { ...s.state.pending, dueAt: Math.max(s.state.pending.dueAt, this.now() + this.opts.collapseWindowMs) } };
    }
    for (const t of covers) {
      t.outstanding--;
      if (t.outstanding <= 0) this.settle(t);
    }
    if (s.state.pending) this.schedule(s);
    else if (!sent || this.opts.collapseWindowMs === 0) this.slots.delete(s.key);
    else {
      // Keep the slot for one window (it remembers lastPushAt), then forget it.
      const t = setTimeout(() => {
        if (this.slots.get(s.key) === s && !s.state.pending && !s.inflight) this.slots.delete(s.key);
      }, this.opts.collapseWindowMs);
      t.unref();
    }
  }

  private capKeys(reg: PushRegistration): Array<{ key: string; limit: CapLimit }> {
    return [
      { key: `provider:${reg.platform}`, limit: { concurrency: this.opts.providerConcurrency, ratePerSec: this.opts.providerRatePerSec } },
      { key: endpointKey(reg), limit: { concurrency: this.opts.endpointConcurrency, ratePerSec: this.opts.endpointRatePerSec } },
    ];
  }

  // ------------------------------------------------------------------ settling and recovery

  private settle(t: OwedTrack): void {
    const k = owedKey(t.entry.conversation, t.entry.seq);
    if (this.owedMem.get(k) === t) this.owedMem.delete(k);
    this.toSettle.push(t.entry);
    if (!this.settleTimer) {
      this.settleTimer = setTimeout(() => void this.flushSettled(), SETTLE_FLUSH_MS);
      this.settleTimer.unref();
    }
  }

  private async flushSettled(): Promise<void> {
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = null;
    const batch = this.toSettle.splice(0);
    if (batch.length === 0) return;
    try {
      await this.deps.store.settle(batch);
    } catch (e) {
      // Settling again is harmless; an unsettled row is re-planned and its sends are
      // found in the send records (already_sent).
      this.log('warn', 'settling owed pushes failed; the rescan will find them', { count: batch.length, error: String(e) });
    }
  }

  /** Plan every owed row of the shard that is not in memory. One run per shard at a time. */
  recover(shard: number): Promise<void> {
    const running = this.recovering.get(shard);
    if (running) return running;
    const p = this.recoverOnce(shard)
      .catch((e: unknown) => this.log('warn', 'push outbox recovery failed; the rescan retries', { shard, error: String(e) }))
      .finally(() => this.recovering.delete(shard));
    this.recovering.set(shard, p);
    return p;
  }

  private async recoverOnce(shard: number): Promise<void> {
    const room = this.maxTracked - this.owedMem.size;
    if (room <= 0 || this.closed) return;
    const rows = await this.deps.store.owed(shard, room);
    const byConv = new Map<string, OwedPush[]>();
    for (const e of rows) {
      if (this.owedMem.has(owedKey(e.conversation, e.seq))) continue;
      let l = byConv.get(e.conversation);
      if (!l) byConv.set(e.conversation, (l = []));
      l.push(e);
    }
    for (const [conv, entries] of byConv) {
      if (this.closed || !this.shards.has(shard)) return;
      const epoch = this.deps.ownership.epochOf(conv);
      if (epoch === null) continue;
      entries.sort((a, b) => a.seq - b.seq);
      const conversation = await this.deps.messages.getConversation(conv);
      const stored = await this.deps.messages.readAfter(conv, entries[0].seq - 1, entries[entries.length - 1].seq - entries[0].seq + 1);
      const bySeq = new Map(stored.map((m) => [m.seq, m]));
      for (const e of entries) {
        const k = owedKey(e.conversation, e.seq);
        if (this.owedMem.has(k)) continue;
        const m = bySeq.get(e.seq);
        const track: OwedTrack = { entry: e, outstanding: 0 };
        if (!m || m.messageId !== e.messageId || !conversation) {
          // Not (or not yet) durable. A commit that failed leaves such a row: drop it once
          // no commit could still be running.
          if (this.now() - e.owedAt > this.orphanGraceMs) this.settle(track);
          continue;
        }
        this.owedMem.set(k, track);
        await this.plan(track, m, conversation.members.map((x) => x.user), epoch, true).catch((err: unknown) => this.planFailed(track, err));
      }
    }
  }
}

function owedKey(conversation: string, seq: number): string {
  return `${conversation}\u0000${seq}`;
}

/**
 * One collapse id per conversation, the same for every device: at most one visible
 * notification per conversation. A hash, so it fits APNs' 64 bytes whatever the id's
 * length and tells the provider nothing about the conversation.
 */
export function collapseIdOf(conversation: string): string {
  return 'c' + createHash('sha256').update(conversation).digest('base64url').slice(0, 22);
}

/** The endpoint a device's pushes go to: the subscription's or webhook's origin, else the platform's one endpoint. */
export function endpointKey(reg: Pick<PushRegistration, 'platform' | 'token'>): string {
  try {
    if (reg.platform === 'webpush') return `endpoint:${new URL((JSON.parse(reg.token) as { endpoint: string }).endpoint).origin}`;
    if (reg.platform === 'webhook') return `endpoint:${new URL(reg.token).origin}`;
  } catch {
    /* a malformed one is refused at registration; fall back to the platform */
  }
  return `endpoint:${reg.platform}`;
}
