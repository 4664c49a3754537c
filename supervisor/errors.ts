/**
 * Every error the supervision library raises or reports, as named `Error` subclasses.
 *
 * Each carries a `code` from the closed catalog below so a host can branch on it (or
 * print it) without matching message text. The catalog is supervisor-local on purpose:
 * this library knows nothing of chat, so it does not borrow protocol/codes.ts.
 */

export const SUPERVISOR_ERROR_CODES = {
  invalid_child_spec: 'A child spec field is missing, of the wrong type or out of range.',
  invalid_supervisor_options: 'A supervisor option is missing, of the wrong type or out of range.',
  duplicate_child: 'A child with this id already exists under this supervisor.',
  unknown_child: 'No child with this id exists under this supervisor.',
  child_running: 'The operation needs the child to be stopped, but it is running.',
  child_start_failed: "A child's start function threw or rejected.",
  supervisor_not_running: 'The supervisor is not running (never started, stopping, stopped or failed).',
  gave_up: 'The supervisor stopped its children and failed upward (restart intensity exceeded, or a hung child).',
  child_hung: 'A child stopped answering heartbeats and cannot be reclaimed in-process.',
  thread_exit: 'A worker thread exited on its own with a non-zero code or an uncaught error.',
  process_exit: 'A child process exited on its own with a non-zero code or a signal.',
  service_failed: 'An in-thread service reported that it died, or its stop failed.',
} as const;

export type SupervisorErrorCode = keyof typeof SUPERVISOR_ERROR_CODES;

export abstract class SupervisorError extends Error {
  abstract readonly code: SupervisorErrorCode;
}

/** A child spec is invalid. `field` names the offending field (e.g. `restart`). */
export class ChildSpecError extends SupervisorError {
  readonly code = 'invalid_child_spec' as const;
  override readonly name = 'ChildSpecError';

  constructor(
    readonly field: string,
    message: string,
    /** The spec's id when it was readable, to find the spec in a long list. */
    readonly childId?: string,
  ) {
    super(childId === undefined ? `child spec: ${field}: ${message}` : `child spec '${childId}': ${field}: ${message}`);
  }
}

/** Supervisor options are invalid. `field` names the offending option (e.g. `intensity`). */
export class SupervisorOptionsError extends SupervisorError {
  readonly code = 'invalid_supervisor_options' as const;
  override readonly name = 'SupervisorOptionsError';

  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`supervisor options: ${field}: ${message}`);
  }
}

export class DuplicateChildError extends SupervisorError {
  readonly code = 'duplicate_child' as const;
  override readonly name = 'DuplicateChildError';

  constructor(
    readonly supervisor: string,
    readonly childId: string,
  ) {
    super(`supervisor '${supervisor}' already has a child '${childId}'`);
  }
}

export class UnknownChildError extends SupervisorError {
  readonly code = 'unknown_child' as const;
  override readonly name = 'UnknownChildError';

  constructor(
    readonly supervisor: string,
    readonly childId: string,
  ) {
    super(`supervisor '${supervisor}' has no child '${childId}'`);
  }
}

export class ChildRunningError extends SupervisorError {
  readonly code = 'child_running' as const;
  override readonly name = 'ChildRunningError';

  constructor(
    readonly supervisor: string,
    readonly childId: string,
    operation: string,
  ) {
    super(`supervisor '${supervisor}': cannot ${operation} child '${childId}' while it is running`);
  }
}

export class ChildStartError extends SupervisorError {
  readonly code = 'child_start_failed' as const;
  override readonly name = 'ChildStartError';

  constructor(
    readonly supervisor: string,
    readonly childId: string,
    cause: unknown,
  ) {
    super(`supervisor '${supervisor}': child '${childId}' failed to start: ${messageOf(cause)}`, { cause });
  }
}

export class SupervisorNotRunningError extends SupervisorError {
  readonly code = 'supervisor_not_running' as const;
  override readonly name = 'SupervisorNotRunningError';

  constructor(
    readonly supervisor: string,
    readonly state: string,
    operation: string,
  ) {
    super(`supervisor '${supervisor}' is ${state}: cannot ${operation}`);
  }
}

/**
 * The supervisor gave up. `why` is `intensity` (too many restarts in the window) or
 * `hung` (a child, or a nested supervisor, holds a thread that cannot be reclaimed).
 */
export class SupervisorGaveUpError extends SupervisorError {
  readonly code = 'gave_up' as const;
  override readonly name = 'SupervisorGaveUpError';

  constructor(
    readonly supervisor: string,
    readonly why: 'intensity' | 'hung',
    /** The child whose exit made the supervisor give up. */
    readonly childId: string,
    message: string,
    cause?: unknown,
  ) {
    super(`supervisor '${supervisor}' gave up (${why}) after child '${childId}' exited: ${message}`, { cause });
  }
}

export class ChildHungError extends SupervisorError {
  readonly code = 'child_hung' as const;
  override readonly name = 'ChildHungError';

  constructor(
    readonly what: string,
    /** How long the child had been silent when it was declared hung. */
    readonly silentForMs: number,
  ) {
    super(`${what} did not answer a heartbeat for ${silentForMs} ms`);
  }
}

export class ThreadExitError extends SupervisorError {
  readonly code = 'thread_exit' as const;
  override readonly name = 'ThreadExitError';

  constructor(
    readonly exitCode: number,
    cause?: unknown,
  ) {
    super(
      cause === undefined
        ? `worker thread exited with code ${exitCode}`
        : `worker thread exited with code ${exitCode}: ${messageOf(cause)}`,
      { cause },
    );
  }
}

export class ProcessExitError extends SupervisorError {
  readonly code = 'process_exit' as const;
  override readonly name = 'ProcessExitError';

  constructor(
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly pid: number | undefined,
  ) {
    super(
      signal === null
        ? `child process ${pid ?? '?'} exited with code ${exitCode}`
        : `child process ${pid ?? '?'} was killed by ${signal}`,
    );
  }
}

export class ServiceFailedError extends SupervisorError {
  readonly code = 'service_failed' as const;
  override readonly name = 'ServiceFailedError';

  constructor(message: string, cause?: unknown) {
    super(cause === undefined ? message : `${message}: ${messageOf(cause)}`, { cause });
  }
}

/** Best-effort message of an unknown thrown value, for building the messages above. */
export function messageOf(value: unknown): string {
  if (value instanceof Error) return value.message;
  return String(value);
}

/** Turn any thrown value into an Error, so reasons always carry one. */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(`non-Error value thrown: ${String(value)}`, { cause: value });
}
