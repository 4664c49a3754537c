/**
 * Adapter for in-thread services: an object with async `start`/`stop` that runs on the
 * host's own event loop (a store writer, an HTTP admin server, an etcd watcher).
 *
 * A service signals its own death through `ctx.exit(error)`; a clean finish is
 * `ctx.exit()`. A service cannot be force-killed (it shares the thread), so the forced
 * kill after a stop timeout calls its optional `kill()` and then abandons it: the
 * supervisor moves on, and whatever the service still holds may leak. Keep `stop` honest.
 */
import type { ChildHandle, StartContext, StartFn } from './child_handle.js';
import { ServiceFailedError } from './errors.js';
import { crashed, NORMAL, SHUTDOWN, type ExitReason } from './exit_reason.js';

export interface ServiceContext extends StartContext {
  /**
   * Report that the service has ended by itself: with an error if it died, without one
   * if it finished cleanly. Only the first call counts.
   */
  exit(error?: unknown): void;
}

export interface Service {
  /** Resolve when ready to serve; reject if it cannot start (and release what it took). */
  start(ctx: ServiceContext): Promise<void>;
  /** Release everything within `deadlineMs` (`Infinity` for no deadline). */
  stop(deadlineMs: number): Promise<void>;
  /** Last resort after a stop timeout: drop what can be dropped synchronously. */
  kill?(): void;
}

/** A start function that builds a fresh service from `factory` on every (re)start. */
export function serviceChild(factory: () => Service): StartFn {
  return async (ctx) => {
    const service = factory();
    const handle = new ServiceHandle(service, ctx.childId);
    await service.start({ ...ctx, exit: (error?: unknown) => handle.diedOnItsOwn(error) });
    return handle;
  };
}

class ServiceHandle implements ChildHandle {
  readonly exited: Promise<ExitReason>;
  private settle!: (reason: ExitReason) => void;
  private settled = false;
  private stopRequested = false;

  constructor(
    private readonly service: Service,
    private readonly id: string,
  ) {
    this.exited = new Promise((resolve) => {
      this.settle = resolve;
    });
  }

  diedOnItsOwn(error?: unknown): void {
    if (error === undefined) this.end(this.stopRequested ? SHUTDOWN : NORMAL);
    else this.end(crashed(new ServiceFailedError(`service '${this.id}' died`, error)));
  }

  requestStop(deadlineMs: number): void {
    this.stopRequested = true;
    let stopping: Promise<void>;
    try {
      stopping = this.service.stop(deadlineMs);
    } catch (error) {
      stopping = Promise.reject(error);
    }
    stopping.then(
      () => this.end(SHUTDOWN),
      (error: unknown) => this.end(crashed(new ServiceFailedError(`service '${this.id}' failed to stop`, error))),
    );
  }

  kill(): void {
    this.stopRequested = true;
    try {
      this.service.kill?.();
    } catch {
      // Abandoned either way; the shutdown report already says it was killed.
    }
    this.end(SHUTDOWN);
  }

  private end(reason: ExitReason): void {
    if (this.settled) return;
    this.settled = true;
    this.settle(reason);
  }
}
