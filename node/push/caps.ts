/**
 * Per-provider and per-endpoint caps on provider calls: requests in flight
 * (concurrency) and requests per second (a token bucket whose burst is one second of
 * its rate), plus a pause an endpoint asked for (a 429 with Retry-After holds every
 * push to that endpoint, not just the one that got it). A call takes a permit from
 * both of its keys at once or waits; waiters are served in arrival order per pump.
 */

/** Waiters examined per pump (see pump()). */
const PUMP_WINDOW = 256;

export interface CapLimit {
  concurrency: number;
  ratePerSec: number;
}

interface KeyState {
  inflight: number;
  tokens: number;
  refilledAt: number;
  pausedUntil: number;
}

interface Waiter {
  keys: Array<{ key: string; limit: CapLimit }>;
  resolve: (release: () => void) => void;
}

export class Caps {
  private readonly state = new Map<string, KeyState>();
  private readonly waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;

  constructor(private readonly now: () => number = Date.now) {}

  /** Wait for a permit on every key; call the returned function when the request is done. */
  acquire(keys: Array<{ key: string; limit: CapLimit }>): Promise<() => void> {
    return new Promise((resolve) => {
      this.waiters.push({ keys, resolve });
      this.pump();
    });
  }

  /** Hold every call to `key` until `untilMs` (ms since epoch). */
  pause(key: string, untilMs: number): void {
    const s = this.get(key, { concurrency: 1, ratePerSec: 1 });
    s.pausedUntil = Math.max(s.pausedUntil, untilMs);
  }

  /** Calls waiting for a permit (for metrics). */
  get waiting(): number {
    return this.waiters.length;
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private get(key: string, limit: CapLimit): KeyState {
    let s = this.state.get(key);
    if (!s) this.state.set(key, (s = { inflight: 0, tokens: limit.ratePerSec, refilledAt: this.now(), pausedUntil: 0 }));
    return s;
  }

  private refill(s: KeyState, limit: CapLimit, now: number): void {
    s.tokens = Math.min(limit.ratePerSec, s.tokens + ((now - s.refilledAt) / 1000) * limit.ratePerSec);
    s.refilledAt = now;
  }

  /** When a waiter could run if nothing else changes (Infinity: it waits for a release). */
  private readyAt(w: Waiter, now: number): number {
    let at = now;
    for (const { key, limit } of w.keys) {
      const s = this.get(key, limit);
      this.refill(s, limit, now);
      if (s.inflight >= limit.concurrency) return Infinity;
      at = Math.max(at, s.pausedUntil);
      if (s.tokens < 1) at = Math.max(at, now + Math.ceil(((1 - s.tokens) / limit.ratePerSec) * 1000));
    }
    return at;
  }

  private pump(): void {
    const now = this.now();
    let next = Infinity;
    // Only the oldest PUMP_WINDOW waiters are looked at per pump: with thousands queued
    // behind a full provider (all sharing its key) a full scan per release would be
    // quadratic; a waiter further back gets its turn as those ahead leave.
    const scan = Math.min(this.waiters.length, PUMP_WINDOW);
    for (let i = 0, looked = 0; i < this.waiters.length && looked < scan; looked++) {
      const w = this.waiters[i];
      const at = this.readyAt(w, now);
      if (at > now) {
        next = Math.min(next, at);
        i++;
        continue;
      }
      this.waiters.splice(i, 1);
      for (const { key, limit } of w.keys) {
        const s = this.get(key, limit);
        s.inflight++;
        s.tokens -= 1;
      }
      let released = false;
      w.resolve(() => {
        if (released) return;
        released = true;
        for (const { key, limit } of w.keys) this.get(key, limit).inflight--;
        this.pump();
      });
    }
    if (next !== Infinity && next < this.timerAt) {
      if (this.timer) clearTimeout(this.timer);
      this.timerAt = next;
      this.timer = setTimeout(() => {
        this.timer = null;
        this.timerAt = Infinity;
        this.pump();
      }, Math.max(1, next - now));
      this.timer.unref();
    }
  }
}
