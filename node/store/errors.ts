/**
 * Typed errors of the store layer. Each carries a `code` from the closed catalog in
 * protocol/codes.ts, so the send path can turn it into a client error frame without
 * guessing, and `retryable` comes from that same catalog.
 */
import { ERROR_CODES, type ErrorCode } from '../../protocol/codes.js';

abstract class StoreLayerError extends Error {
  abstract readonly code: ErrorCode;

  get retryable(): boolean {
    return ERROR_CODES[this.code].retryable;
  }
}

/**
 * The batch writer's queue is full. Nothing of the rejected submission was accepted
 * and nothing accepted earlier was dropped, so the client may resend after backoff.
 */
export class OverloadedError extends StoreLayerError {
  readonly code = 'overloaded' as const;
  override readonly name = 'OverloadedError';

  constructor(
    message: string,
    /** Ops waiting when the submission was refused. */
    readonly queueDepth: number,
    readonly maxQueue: number,
  ) {
    super(message);
  }
}

/**
 * The store could not confirm durability (I/O error, disk full, lock timeout, node
 * down, writer closed). Every op of the affected batch may or may not be stored; all
 * ops are idempotent, so retrying the same ops is safe.
 */
export class StoreUnavailableError extends StoreLayerError {
  readonly code = 'unavailable' as const;
  override readonly name = 'StoreUnavailableError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * An op breaks the data model (seq < 1, unknown kind or role, ...). Retrying it cannot
 * help: this is a bug in whoever built the op, so it is not retryable.
 */
export class InvalidWriteError extends StoreLayerError {
  readonly code = 'invalid_argument' as const;
  override readonly name = 'InvalidWriteError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export type StoreError = OverloadedError | StoreUnavailableError | InvalidWriteError;

export function isStoreError(err: unknown): err is StoreError {
  return err instanceof StoreLayerError;
}
