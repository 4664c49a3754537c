/**
 * Reconnect delays: "full jitter" exponential backoff (AWS Architecture Blog,
 * "Exponential Backoff And Jitter"): attempt n waits a uniform random time in
 * [0, min(cap, base * 2^n)]. Spreading over the whole window, not around its middle,
 * is what keeps the clients of a restarted node from coming back in waves.
 */
export interface BackoffPolicy {
  /** Upper bound of the first wait. */
  baseMs: number;
  /** No wait is longer than this, however many attempts failed. */
  capMs: number;
}

/**
 * The defaults centrifuge-js ships (0.5 s → 20 s): the first retry is quick enough that
 * a shard restart (close 4000) is hardly noticed, and 20 s bounds what a user waits
 * once the network is back.
 */
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, capMs: 20_000 };

/** The wait before reconnect attempt `attempt` (0 for the first retry); `random` returns [0, 1). */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const window = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * (window + 1));
}
