/**
 * The outbox (PROTOCOL.md §5.2, §6.2): sends without a send_ack, one FIFO queue per
 * conversation, as matrix-js-sdk keeps one per room. Only the head of a queue is on
 * the wire, so a retried message can never land after a later one: order on the
 * server is the order the user typed. Each entry keeps its client_msg_id for life, so
 * every resend (timeout, reconnect, restart) is deduplicated by the server.
 *
 * On an error reply: a retryable code (rate_limited, overloaded, unavailable, timeout,
 * internal) resends the same entry after retry_after_ms, or after a jittered backoff
 * when the server gave none; a terminal code marks the entry failed (never resent) and
 * the queue moves on.
 */
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import type { Clock } from './clock.js';
import type { OutboxEntry } from './types.js';

export interface OutboxDeps {
  clock: Clock;
  random: () => number;
  backoff: BackoffPolicy;
  /** No send_ack or error in this long: resend (same client_msg_id). */
  sendTimeoutMs: number;
  /** Put a send frame on the wire; its req_id, or null when not connected. */
  transmit(e: OutboxEntry): number | null;
  /** The entries of a conversation changed. */
  changed(conversation: string): void;
}

interface InFlight {
  reqId: number;
  entry: OutboxEntry;
  timer: unknown;
}

export class Outbox {
  entries: OutboxEntry[] = [];
  /** Entries whose snapshot is in storage: only these may be sent (a reload must still find them). */
  readonly durable = new Set<string>();
  private inflight = new Map<string, InFlight>();
  private retryTimers = new Map<string, unknown>();
  private attempts = new Map<string, number>();
  private live = false;

  constructor(private readonly d: OutboxDeps) {}

  add(e: OutboxEntry): void {
    this.entries.push(e);
    this.d.changed(e.conversation);
  }

  /** Entries of one conversation, oldest first (failed ones included). */
  of(conversation: string): OutboxEntry[] {
    return this.entries.filter((e) => e.conversation === conversation);
  }

  /** The connection is synced: start sending every queue's head. */
  resume(): void {
    this.live = true;
    for (const c of new Set(this.entries.map((e) => e.conversation))) this.pump(c);
  }

  /** The connection is gone: nothing is in flight any more (all is resent after the next sync). */
  pause(): void {
    this.live = false;
    for (const f of this.inflight.values()) this.d.clock.clearTimeout(f.timer);
    for (const t of this.retryTimers.values()) this.d.clock.clearTimeout(t);
    this.inflight.clear();
    this.retryTimers.clear();
  }

  pump(conversation: string): void {
    if (!this.live || this.inflight.has(conversation) || this.retryTimers.has(conversation)) return;
    const head = this.entries.find((e) => e.conversation === conversation && !e.failed);
    if (!head || !this.durable.has(head.clientMsgId)) return;
    const reqId = this.d.transmit(head);
    if (reqId === null) return;
    const timer = this.d.clock.setTimeout(() => {
      if (this.inflight.get(conversation)?.reqId !== reqId) return;
      this.inflight.delete(conversation);
      this.pump(conversation);
    }, this.d.sendTimeoutMs);
    this.inflight.set(conversation, { reqId, entry: head, timer });
  }

  /** Is this req_id one of our sends? */
  owns(reqId: number): boolean {
    for (const f of this.inflight.values()) if (f.reqId === reqId) return true;
    return false;
  }

  /** A send_ack (or a message of ours found in a sync page): the entry is done. */
  acked(conversation: string, clientMsgId: string): OutboxEntry | undefined {
    const i = this.entries.findIndex((e) => e.conversation === conversation && e.clientMsgId === clientMsgId);
    if (i < 0) return undefined;
    const [entry] = this.entries.splice(i, 1);
    this.attempts.delete(clientMsgId);
    this.durable.delete(clientMsgId);
    const f = this.inflight.get(conversation);
    if (f && f.entry.clientMsgId === clientMsgId) {
      this.d.clock.clearTimeout(f.timer);
      this.inflight.delete(conversation);
    }
    this.d.changed(conversation);
    this.pump(conversation);
    return entry;
  }

  /** An error answering one of our sends. Returns the entry if it failed for good. */
  refused(reqId: number, err: { code: string; message: string; retryable: boolean; retryAfterMs: number }): OutboxEntry | undefined {
    const f = [...this.inflight.values()].find((x) => x.reqId === reqId);
    if (!f) return undefined;
    const c = f.entry.conversation;
    this.d.clock.clearTimeout(f.timer);
    this.inflight.delete(c);
    if (err.retryable) {
      const n = this.attempts.get(f.entry.clientMsgId) ?? 0;
      this.attempts.set(f.entry.clientMsgId, n + 1);
      const wait = err.retryAfterMs > 0 ? err.retryAfterMs : backoffDelay(n, this.d.backoff, this.d.random);
      this.retryTimers.set(
        c,
        this.d.clock.setTimeout(() => {
          this.retryTimers.delete(c);
          this.pump(c);
        }, wait),
      );
      return undefined;
    }
    f.entry.failed = { code: err.code, message: err.message };
    this.d.changed(c);
    this.pump(c);
    return f.entry;
  }

  /** Drop a failed entry (the user dismissed it). */
  discard(conversation: string, clientMsgId: string): void {
    this.entries = this.entries.filter((e) => !(e.conversation === conversation && e.clientMsgId === clientMsgId && e.failed));
    this.d.changed(conversation);
  }
}
