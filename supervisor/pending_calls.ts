/**
 * PendingCalls: the request/reply table of one channel (a worker thread's port, a
 * peer link). A call gets an id to carry in its request and a promise of the reply;
 * the reply, matched by id, settles it. When no reply comes, the call ends anyway:
 *
 *   timeout     nothing answered within the call's timeoutMs
 *   closed      the channel went away (`close`, for all calls or those with a tag)
 *   superseded  a newer call was opened under the same caller-chosen id (`callAs`)
 *
 * What the caller then gets is its choice: `noReply` (per table, or per call) turns
 * the reason into a value of the reply type (an error result, null, a message), so
 * callers that must never throw stay that way; without it the promise rejects with
 * NoReplyError. Every call settles exactly once, and a late reply for an ended call is
 * ignored (`settle` answers false).
 *
 * On a hot path give `noReply` to the table, not to each call: under tsx (esbuild's
 * keepNames) every arrow function written as a property value is named by a
 * defineProperty at run time, about 0.2 µs per call, a quarter of a forwarded send.
 */
import { systemClock, type Clock, type TimerHandle } from './clock.js';

export type NoReply = { why: 'timeout'; ms: number } | { why: 'closed'; reason: string } | { why: 'superseded' };

export class NoReplyError extends Error {
  constructor(readonly noReply: NoReply) {
    super(noReply.why === 'timeout' ? `no reply in ${noReply.ms} ms` : noReply.why === 'closed' ? `closed: ${noReply.reason}` : 'superseded');
    this.name = 'NoReplyError';
  }
}

export interface PendingCallsOptions<T, Tag> {
  /** The timers' clock: systemClock, or a ManualClock in tests. */
  clock?: Clock;
  /** What a call without its own `noReply` settles with when no reply comes (it gets the call's tag). */
  noReply?: (n: NoReply, tag: Tag | undefined) => T;
}

export interface CallOptions<T, Tag> {
  /** End the call as `timeout` after this long. None by default: the channel's own liveness (or close) ends it. */
  timeoutMs?: number;
  /** The value the call settles with when no reply comes; by default the table's, else a NoReplyError rejection. */
  noReply?: (n: NoReply) => T;
  /** What `close(reason, where)` selects on, e.g. the peer the request went to. */
  tag?: Tag;
}

interface OpenCall<T, Tag> {
  resolve: (value: T) => void;
  reject: (e: Error) => void;
  noReply?: (n: NoReply) => T;
  timer: TimerHandle | null;
  tag: Tag | undefined;
}

export class PendingCalls<T, Tag = undefined> {
  private nextId = 1;
  private readonly open = new Map<number, OpenCall<T, Tag>>();

  private readonly clock: Clock;
  private readonly noReply: ((n: NoReply, tag: Tag | undefined) => T) | undefined;

  constructor(options: PendingCallsOptions<T, Tag> = {}) {
    this.clock = options.clock ?? systemClock;
    this.noReply = options.noReply;
  }

  /** Open a call under a fresh id (1, 2, 3, ...: never reused by this table). */
  call(options: CallOptions<T, Tag> = {}): { id: number; reply: Promise<T> } {
    const id = this.nextId++;
    return { id, reply: this.add(id, options) };
  }

  /**
   * Open a call under an id the caller chose (e.g. a generation number the reply
   * echoes). An open call under the same id ends as `superseded` first.
   */
  callAs(id: number, options: CallOptions<T, Tag> = {}): Promise<T> {
    this.end(id, { why: 'superseded' });
    return this.add(id, options);
  }

  /** The reply to call `id`. False when no such call is open (unknown, or already ended). */
  settle(id: number, value: T): boolean {
    const c = this.take(id);
    if (!c) return false;
    c.resolve(value);
    return true;
  }

  /** End every open call, or those whose tag `where` selects, as `closed`. Returns how many. */
  close(reason: string, where?: (tag: Tag | undefined) => boolean): number {
    let n = 0;
    for (const [id, c] of [...this.open]) {
      if (where && !where(c.tag)) continue;
      this.end(id, { why: 'closed', reason });
      n++;
    }
    return n;
  }

  /** Calls waiting for a reply. */
  get size(): number {
    return this.open.size;
  }

  private add(id: number, options: CallOptions<T, Tag>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const c: OpenCall<T, Tag> = { resolve, reject, noReply: options.noReply, timer: null, tag: options.tag };
      const ms = options.timeoutMs;
      if (ms !== undefined) c.timer = this.clock.setTimeout(() => this.end(id, { why: 'timeout', ms }), ms);
      this.open.set(id, c);
    });
  }

  private end(id: number, n: NoReply): void {
    const c = this.take(id);
    if (!c) return;
    if (!c.noReply && !this.noReply) {
      c.reject(new NoReplyError(n));
      return;
    }
    let value: T;
    try {
      value = c.noReply ? c.noReply(n) : this.noReply!(n, c.tag);
    } catch (e) {
      c.reject(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    c.resolve(value);
  }

  private take(id: number): OpenCall<T, Tag> | undefined {
    const c = this.open.get(id);
    if (!c) return undefined;
    this.open.delete(id);
    if (c.timer !== null) this.clock.clearTimeout(c.timer);
    return c;
  }
}
