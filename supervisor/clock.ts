/**
 * The time source of the supervision library. Everything that reads the time or waits
 * (restart windows, shutdown timeouts, heartbeats) goes through a `Clock`, so tests can
 * drive time by hand with `ManualClock` instead of sleeping.
 */

/** An opaque timer handle; only the clock that made it may clear it. */
export type TimerHandle = unknown;

export interface Clock {
  /** Milliseconds on a monotonic scale. Only differences are meaningful. */
  now(): number;
  /** Run `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/**
 * The real clock. `now()` is `performance.now()`, not `Date.now()`: a wall clock that
 * jumps (NTP, suspend) must not empty or overfill a restart window.
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Resolve after `ms` on `clock`. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => {
    clock.setTimeout(resolve, ms);
  });
}
