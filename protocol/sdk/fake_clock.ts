/**
 * A manual clock for the SDK's unit tests: timers fire only when the test advances
 * time, in due order, with pending promise callbacks run between them.
 */
import type { Clock } from './clock.js';

interface Timer {
  id: number;
  due: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  private t: number;
  private timers: Timer[] = [];
  private nextId = 1;

  constructor(start = 1_800_000_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const timer = { id: this.nextId++, due: this.t + Math.max(0, ms), fn };
    this.timers.push(timer);
    return timer.id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }

  /** Milliseconds until the next timer, or null when none is set. */
  nextIn(): number | null {
    if (this.timers.length === 0) return null;
    return Math.min(...this.timers.map((x) => x.due)) - this.t;
  }

  /** Move time forward by `ms`, firing every timer that comes due on the way. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flush();
      const due = this.timers.filter((x) => x.due <= end).sort((a, b) => a.due - b.due || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = due.due;
      due.fn();
    }
    this.t = end;
    await flush();
  }
}

/** Let queued promise callbacks (and whatever they queue) run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => queueMicrotask(r));
  await new Promise<void>((r) => setImmediate(r));
}
