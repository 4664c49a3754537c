/**
 * Send limits above the per-connection buckets (shards/session.ts): a token bucket per
 * user (all the user's devices together), one per conversation (all senders
 * together) and one per (conversation, sender). Refusals are `rate_limited` with
 * `retry_after_ms` (the time until every bucket the send needs has a token).
 *
 * The limiter is pure: (state, event, now) -> decision, with the clock passed in.
 * `SendLimiter` at the bottom is the thin stateful wrapper the host uses
 * (node/host/host.ts):
 *
 * - The conversation buckets are charged where the conversation's owner runs the op
 *   (`Host.runLocal`): on one node that is the node; in a cell it is the owner of the
 *   conversation's shard, which sees every send of that conversation, so the caps
 *   hold cell-wide exactly (a shard move starts the new owner with full buckets: at
 *   most one extra burst per move).
 * - The user bucket is charged where the socket is (`Host.run`, before the op is
 *   forwarded). A user's devices may be connected to several nodes; each node
 *   enforces rate/k and burst/k, where k is the number of nodes the user has routes
 *   on (this one included), read from the cell's route mirror. Why split rather than
 *   forward the check to a home node per user: no extra hop on the hot path and no
 *   new link messages, and no home node whose loss stalls a user's sends. The cost is
 *   the error bound below.
 *
 * Error bound of the split user bucket (rate r, burst b), over any window T:
 * - While the user's devices stay on the same k nodes and every node sees the same
 *   k, the cell admits at most sum over k nodes of (b/k + rT/k) = b + rT: the bound
 *   of one bucket.
 * - A node that has not yet seen a new route of the user (route write-behind
 *   `cluster.routes.maxDelayMs` plus the etcd watch, milliseconds on a LAN) uses a
 *   smaller k for that long and admits r/(k-1) instead of r/k meanwhile.
 * - A node the user was not on in the last b/r seconds starts the user with a full
 *   b/k. So the hard ceiling, whatever the user does, is n(b + rT) for a user who
 *   sends through n different nodes within the window (devices hopping nodes to
 *   collect fresh buckets); the conversation caps, which are exact, still apply.
 * - It errs the other way for a user with idle devices on other nodes: one active
 *   device gets r/k and b/k, not r and b. The defaults (node/config.ts) leave room
 *   for k = 2 (phone and desktop on different nodes).
 * - Sends over the HTTP API (app backends holding an API key, e.g. a bot account
 *   messaging thousands of users) do not take the user bucket; the conversation caps,
 *   which protect the recipients, apply to them too.
 *
 * Charging: a send takes its tokens up front (so concurrent sends cannot overdraw a
 * bucket) and gives them back unless it ends in a fresh ack (`duplicate: false`). A
 * resend answered from the dedup key (`duplicate: true`), a refused send
 * (not_member, limit_exceeded, another bucket's rate_limited, overloaded,
 * unavailable) and a send fenced at commit cost nothing. A resend that arrives while
 * a bucket is empty is refused like any send (the limiter does not read the dedup
 * key); resent after retry_after_ms it gets its duplicate ack without a charge. One
 * leak: a forwarded send whose owner stored it but whose answer timed out refunds the
 * user bucket at the gateway (the owner's conversation buckets stay charged).
 *
 * Memory: one Map per scope, in last-touched order. A bucket untouched for b/r
 * seconds is full again, exactly what a missing entry means, so such entries are
 * evicted as later calls pass them (lossless), and a bucket refunded to full is
 * deleted at once (sends to conversations the caller is not in leave nothing). Past
 * `maxEntries` per scope the least recently touched bucket is dropped even if not
 * full (counted in `evicted`): that key over-admits by at most what it had spent.
 */

/** A token bucket's refill rate and capacity. */
export interface BucketRule {
  ratePerSec: number;
  burst: number;
}

export interface SendLimitRules {
  /** Per user, all devices and conversations together (split over the user's nodes in a cell). */
  user: BucketRule;
  /** Per conversation, all senders together. */
  conversation: BucketRule;
  /** Per (conversation, sender). */
  sender: BucketRule;
  /** Buckets kept per scope at most. */
  maxEntries: number;
}

export type Scope = 'user' | 'conversation' | 'sender';

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date (ms, the injected clock). */
  at: number;
}

interface Table {
  readonly buckets: Map<string, Bucket>;
  /** Buckets dropped before they were full (the cap was reached). */
  evicted: number;
}

export interface LimiterState {
  readonly user: Table;
  readonly conversation: Table;
  readonly sender: Table;
}

/** What a granted send took, to be settled when its outcome is known. */
export interface Charge {
  readonly taken: ReadonlyArray<{ scope: Scope; key: string; rule: BucketRule }>;
}

export type Decision = { ok: true; charge: Charge } | { ok: false; scope: Scope; retryAfterMs: number };

export function newLimiterState(): LimiterState {
  const t = (): Table => ({ buckets: new Map(), evicted: 0 });
  return { user: t(), conversation: t(), sender: t() };
}

/** The user bucket as one of `nodes` nodes enforces it (at least one token of burst). */
export function userRule(rules: SendLimitRules, nodes: number): BucketRule {
  const k = Math.max(1, Math.floor(nodes));
  return { ratePerSec: rules.user.ratePerSec / k, burst: Math.max(1, rules.user.burst / k) };
}

/** A send by `user` arriving on a node where the user has connections on `nodes` nodes in all. */
export function admitUser(s: LimiterState, rules: SendLimitRules, ev: { user: string; nodes: number }, now: number): Decision {
  return admit(s, rules, [{ scope: 'user', key: ev.user, rule: userRule(rules, ev.nodes) }], now);
}

/** A send into `conversation` by `sender`, at the node that owns the conversation. */
export function admitConversation(s: LimiterState, rules: SendLimitRules, ev: { conversation: string; sender: string }, now: number): Decision {
  return admit(
    s,
    rules,
    [
      { scope: 'sender', key: `${ev.conversation}\u0000${ev.sender}`, rule: rules.sender },
      { scope: 'conversation', key: ev.conversation, rule: rules.conversation },
    ],
    now,
  );
}

/** The send ended: keep its tokens if it was stored as a new message (`stored`), else give them back. */
export function settle(s: LimiterState, charge: Charge, stored: boolean, now: number): void {
  if (stored) return;
  for (const t of charge.taken) {
    const table = s[t.scope];
    const b = table.buckets.get(t.key);
    // Gone (evicted) means full: nothing to give back.
    if (!b) continue;
    refill(b, t.rule, now);
    b.tokens = Math.min(t.rule.burst, b.tokens + 1);
    if (b.tokens >= t.rule.burst) table.buckets.delete(t.key);
  }
}

/** Every bucket must have a token; then each gives one, else none does. */
function admit(s: LimiterState, rules: SendLimitRules, need: Charge['taken'], now: number): Decision {
  let wait = 0;
  let scope: Scope = need[0].scope;
  const buckets: Bucket[] = [];
  for (const n of need) {
    const b = touch(s, rules, n.scope, n.key, n.rule, now);
    buckets.push(b);
    if (b.tokens < 1) {
      const w = Math.ceil(((1 - b.tokens) * 1000) / n.rule.ratePerSec);
      if (w > wait) {
        wait = w;
        scope = n.scope;
      }
    }
  }
  if (wait > 0) return { ok: false, scope, retryAfterMs: wait };
  for (const b of buckets) b.tokens -= 1;
  return { ok: true, charge: { taken: need } };
}

/** The bucket for `key`, brought up to `now`, created full if absent, moved to the recently-touched end. */
function touch(s: LimiterState, rules: SendLimitRules, scope: Scope, key: string, rule: BucketRule, now: number): Bucket {
  const table = s[scope];
  let b = table.buckets.get(key);
  if (b) {
    table.buckets.delete(key);
    refill(b, rule, now);
  } else {
    b = { tokens: rule.burst, at: now };
  }
  table.buckets.set(key, b);
  sweep(table, fullAfterMs(rules, scope), rules.maxEntries, now);
  return b;
}

function refill(b: Bucket, rule: BucketRule, now: number): void {
  const elapsed = Math.max(0, now - b.at);
  b.tokens = Math.min(rule.burst, b.tokens + (elapsed * rule.ratePerSec) / 1000);
  b.at = now;
}

/** After this long untouched a bucket of the scope is full whatever it held (the same for every split of the user bucket). */
function fullAfterMs(rules: SendLimitRules, scope: Scope): number {
  const r = rules[scope];
  return (r.burst / r.ratePerSec) * 1000;
}

/** Drop idle buckets from the least recently touched end, then enforce the cap. */
function sweep(table: Table, fullAfter: number, maxEntries: number, now: number): void {
  // A few per call keeps it O(1) amortised: every touch adds at most one entry.
  let n = 0;
  for (const [key, b] of table.buckets) {
    if (n++ >= 4 || now - b.at < fullAfter) break;
    table.buckets.delete(key);
  }
  while (table.buckets.size > maxEntries) {
    const oldest = table.buckets.keys().next().value as string;
    table.buckets.delete(oldest);
    table.evicted++;
  }
}

/** Size and evictions per scope (for status pages and tests). */
export function limiterStats(s: LimiterState): Record<Scope, { entries: number; evicted: number }> {
  const of = (t: Table): { entries: number; evicted: number } => ({ entries: t.buckets.size, evicted: t.evicted });
  return { user: of(s.user), conversation: of(s.conversation), sender: of(s.sender) };
}

// ---------------------------------------------------------------------- the host's wrapper

/** What a refused send answers (a CoreResult error; kept structural so this file needs no host types). */
export interface RateLimitedResult {
  r: 'error';
  code: 'rate_limited';
  message: string;
  retryAfterMs: number;
}

const REFUSAL: Record<Scope, string> = {
  user: 'send rate limit for this user (all devices) exceeded',
  conversation: 'send rate limit for this conversation exceeded',
  sender: 'send rate limit for this sender in this conversation exceeded',
};

/**
 * The limiter with its state and clock, for the host: wraps the running of a send so
 * that it is refused, or charged and settled by its result.
 */
export class SendLimiter {
  readonly state = newLimiterState();

  constructor(
    readonly rules: SendLimitRules,
    /** Monotonic ms: wall-clock steps must not refill or drain buckets. */
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Run a client's send under its user bucket (`nodes`: how many nodes the user is connected to). */
  user<R extends { r: string }>(user: string, nodes: number, run: () => Promise<R>): Promise<R | RateLimitedResult> {
    return this.guard(admitUser(this.state, this.rules, { user, nodes }, this.now()), run);
  }

  /** Run a send under its conversation and (conversation, sender) buckets. */
  conversation<R extends { r: string }>(conversation: string, sender: string, run: () => Promise<R>): Promise<R | RateLimitedResult> {
    return this.guard(admitConversation(this.state, this.rules, { conversation, sender }, this.now()), run);
  }

  private async guard<R extends { r: string }>(d: Decision, run: () => Promise<R>): Promise<R | RateLimitedResult> {
    if (!d.ok) return { r: 'error', code: 'rate_limited', message: REFUSAL[d.scope], retryAfterMs: d.retryAfterMs };
    let stored = false;
    try {
      const res = await run();
      stored = isFreshAck(res);
      return res;
    } finally {
      settle(this.state, d.charge, stored, this.now());
    }
  }
}

/** A send_ack of a message stored now (not a duplicate answered from the dedup key). */
function isFreshAck(res: { r: string }): boolean {
  return res.r === 'send_ack' && (res as { ack?: { duplicate?: boolean } }).ack?.duplicate === false;
}
