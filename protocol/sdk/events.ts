/** A tiny typed event emitter (no Node or DOM dependency). */
export class Emitter<E extends object> {
  private handlers = new Map<keyof E, Set<(v: never) => void>>();

  /** Subscribe; returns the unsubscribe function. */
  on<K extends keyof E>(event: K, fn: (v: E[K]) => void): () => void {
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    set.add(fn as (v: never) => void);
    return () => set.delete(fn as (v: never) => void);
  }

  protected emit<K extends keyof E>(event: K, value: E[K]): void {
    for (const fn of this.handlers.get(event) ?? []) {
      try {
        (fn as (v: E[K]) => void)(value);
      } catch (e) {
        // An app handler that throws must not break the SDK's state machine.
        console.error(`switchboard sdk: ${String(event)} handler threw`, e);
      }
    }
  }
}
