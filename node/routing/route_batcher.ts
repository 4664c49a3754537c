/**
 * Write-behind state for this node's routes (pure; no timers, no I/O).
 *
 * Under connection churn the same device connects and disconnects many times a
 * second; writing each change would cost an etcd transaction each. Instead this keeps
 * three views of every (user, device) key of this node:
 *   desired   connection count here (from register/unregister, applied at once)
 *   committed what the backend holds (updated when a batch is acknowledged)
 *   dirty     keys whose desired and committed presence may differ
 * and `take(max)` turns dirty keys into the minimal puts and deletes. A connect and
 * disconnect between two flushes cancel out and cost nothing.
 *
 * Bound: at most `maxPending` dirty keys. A registration that would add one more is
 * refused (the caller refuses the connection, retryably); an unregistration is always
 * accepted, since it only shrinks what is stored, so the dirty set is bounded by
 * maxPending + committed routes.
 */
export interface RouteOp {
  readonly key: string;
  /** true = put the route, false = delete it. */
  readonly put: boolean;
}

export class RouteBatcher {
  private readonly desired = new Map<string, number>();
  private readonly committed = new Set<string>();
  private readonly dirty = new Set<string>();

  constructor(readonly maxPending: number) {}

  get pending(): number {
    return this.dirty.size;
  }

  get localCount(): number {
    return this.desired.size;
  }

  /** Count one more connection on `key`. Returns false (and changes nothing) if over the bound. */
  register(key: string): boolean {
    const n = this.desired.get(key) ?? 0;
    if (n === 0 && !this.dirty.has(key) && this.dirty.size >= this.maxPending) return false;
    this.desired.set(key, n + 1);
    if (n === 0) this.dirty.add(key);
    return true;
  }

  /** Count one connection less. Returns true when the key's last connection went. */
  unregister(key: string): boolean {
    const n = this.desired.get(key) ?? 0;
    if (n === 0) return false;
    if (n > 1) {
      this.desired.set(key, n - 1);
      return false;
    }
    this.desired.delete(key);
    this.dirty.add(key);
    return true;
  }

  isLocal(key: string): boolean {
    return this.desired.has(key);
  }

  localKeys(): IterableIterator<string> {
    return this.desired.keys();
  }

  /** Up to `max` ops that bring the backend to the desired state; their keys stop being dirty. */
  take(max: number): RouteOp[] {
    const ops: RouteOp[] = [];
    for (const key of this.dirty) {
      if (ops.length >= max) break;
      this.dirty.delete(key);
      const want = this.desired.has(key);
      if (want !== this.committed.has(key)) ops.push({ key, put: want });
    }
    return ops;
  }

  /** The backend applied `ops`. */
  applied(ops: RouteOp[]): void {
    for (const op of ops) {
      if (op.put) this.committed.add(op.key);
      else this.committed.delete(op.key);
    }
  }

  /** The backend did not apply `ops` (or may not have): try them again. */
  failed(ops: RouteOp[]): void {
    for (const op of ops) this.dirty.add(op.key);
  }

  /**
   * The backend lost everything of this node (its lease expired): nothing is
   * committed any more and every local key must be written again.
   */
  lostAll(): void {
    this.committed.clear();
    for (const key of this.desired.keys()) this.dirty.add(key);
  }

  /** Forget the desired state (the node is stopping): every committed key becomes a delete. */
  clearDesired(): void {
    this.desired.clear();
    for (const key of this.committed) this.dirty.add(key);
  }
}
