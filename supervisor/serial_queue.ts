/**
 * Runs async operations one at a time, in submission order. The supervisor funnels
 * every change of its child list through one queue (child exits, restarts, dynamic
 * children, stop), so no two of them interleave at an `await`.
 *
 * An operation must never wait for a later operation on the same queue: that deadlocks.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  run<T>(op: () => Promise<T>): Promise<T> {
    this.waiting += 1;
    const result = this.tail.then(op).finally(() => {
      this.waiting -= 1;
    });
    // The next op runs after this one whatever its outcome; the caller sees the outcome.
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Operations submitted and not yet finished. */
  get size(): number {
    return this.waiting;
  }

  /** Resolves when every operation submitted so far has finished. */
  drained(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}
