/**
 * A small typed registry of running services, for siblings of one supervision tree
 * (in the spirit of Elixir's Registry): a child publishes what it runs once started
 * and withdraws it before it stops; a sibling looks it up by name when it needs it,
 * instead of holding a nullable field of a shared object. Lookups of a service that
 * is not running (restarting, or not started yet) fail with code `unavailable`,
 * which callers answer as a retryable error.
 */

export class ServiceUnavailableError extends Error {
  readonly code = 'unavailable';
  constructor(readonly service: string) {
    super(`${service} is not running (restarting?); retry`);
  }
}

export class ServiceRegistry<M extends object> {
  private readonly running = new Map<keyof M, unknown>();

  provide<K extends keyof M>(name: K, service: M[K]): void {
    this.running.set(name, service);
  }

  /** Withdraw `name` (only if `service` is still the one published, when given). */
  withdraw<K extends keyof M>(name: K, service?: M[K]): void {
    if (service === undefined || this.running.get(name) === service) this.running.delete(name);
  }

  /** The running service; throws ServiceUnavailableError if it is not running. */
  get<K extends keyof M>(name: K): M[K] {
    if (!this.running.has(name)) throw new ServiceUnavailableError(String(name));
    return this.running.get(name) as M[K];
  }

  /** The running service, or null. */
  peek<K extends keyof M>(name: K): M[K] | null {
    return this.running.has(name) ? (this.running.get(name) as M[K]) : null;
  }
}
