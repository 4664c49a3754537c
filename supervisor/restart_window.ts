/**
 * Restart intensity as a sliding window: at most `intensity` restarts in any `periodMs`.
 * A pure function of (history, now) so it can be property-tested; the supervisor keeps
 * the returned history and nothing else.
 */

export interface RestartLimits {
  /** Most restarts allowed inside one window. 0 means the first crash gives up. */
  readonly intensity: number;
  /** Window length in ms. */
  readonly periodMs: number;
}

/**
 * Elixir's defaults (3 in 5 s): enough to ride out a flapping dependency, few enough
 * that a crash loop reaches the OS-level restarter within seconds.
 */
export const DEFAULT_RESTART_LIMITS: RestartLimits = { intensity: 3, periodMs: 5_000 };

export interface WindowVerdict {
  /** May this restart happen? */
  readonly allowed: boolean;
  /**
   * Restart times still inside the window, including `now` (even when refused, so a
   * caller can report how many there were). Keep it as the next history.
   */
  readonly history: readonly number[];
}

/**
 * Record a restart attempt at `now` and say whether it fits the window. Times older
 * than `periodMs` before `now` drop out; an entry exactly `periodMs` old is out too, so
 * restarts spaced exactly one period apart never accumulate. Times are expected to be
 * non-decreasing (use a monotonic clock).
 */
export function admitRestart(history: readonly number[], now: number, limits: RestartLimits): WindowVerdict {
  const recent = history.filter((t) => now - t < limits.periodMs);
  recent.push(now);
  return { allowed: recent.length <= limits.intensity, history: recent };
}
