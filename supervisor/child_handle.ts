/**
 * The adapter contract: what a child spec's `start` must return, and what it is given.
 *
 * A supervisor never touches a thread, a process or a service directly; it only sees a
 * `ChildHandle`. The three adapters (service_child.ts, thread_child.ts,
 * process_child.ts) and nested supervisors (supervisor_child.ts) each produce one, and
 * tests use fake_child.ts. Anything that honours these rules can be supervised.
 */
import type { Clock } from './clock.js';
import type { ExitReason } from './exit_reason.js';
import type { SupervisorReport } from './reports.js';
import type { SupervisorTree } from './tree.js';

/** Handed to `start`, so adapters and nested supervisors can share the parent's clock and report sink. */
export interface StartContext {
  /** Path name of the starting supervisor, e.g. `host/shards`. */
  readonly supervisor: string;
  /** Id of the child being started. */
  readonly childId: string;
  readonly clock: Clock;
  /** Send a report up the tree (nested supervisors forward theirs through this). */
  report(report: SupervisorReport): void;
}

/**
 * Starts one instance of the child. Resolve once the child is up (for a worker thread:
 * online, or ready if it signals readiness); reject if it could not start. After a
 * rejection nothing may be left running.
 */
export type StartFn = (ctx: StartContext) => Promise<ChildHandle>;

/** Ids to show in status output; both optional. */
export interface ChildIdentity {
  readonly pid?: number;
  readonly threadId?: number;
}

export interface ChildHandle {
  /**
   * Settles exactly once, when the child has ended, with why. Never rejects. A child
   * that ends because of `requestStop` or `kill` should report `shutdown` (the
   * supervisor ignores the reason of exits it asked for, except to report failures).
   */
  readonly exited: Promise<ExitReason>;

  /**
   * Ask the child to end by itself within `deadlineMs` (`Infinity` for no deadline).
   * Returns at once; `exited` tells when it is done. The supervisor calls `kill` if the
   * shutdown timeout passes first.
   */
  requestStop(deadlineMs: number): void;

  /**
   * Forced kill. After this, `exited` must settle promptly. For an in-thread service
   * that cannot be killed, this abandons it.
   */
  kill(): void;

  /** Current ids for status output (a getter, since they may change). */
  identity?(): ChildIdentity;

  /** For a child that is itself a supervisor: its live subtree. */
  tree?(): SupervisorTree;
}
