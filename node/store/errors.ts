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

/**
 * A message op names a (conversation, seq) that already holds a different message
 * (another message_id). A seq, once stored, never changes content, so the store refuses
 * the write and the whole commit fails: SQLite rolls the transaction back; Cassandra
 * writes nothing more of that conversation's messages (its conditional batch was not
 * applied) and none of its metadata (members, subject) in that commit.
 *
 * Whoever assigned the seq had a stale view of the conversation: a stale owner after a
 * takeover, or a counter that forked. The writer's caller reloads the last seq from the
 * store (ChatService.writeFailed) and the client resends with the same client_msg_id,
 * so the code is `unavailable` (retryable): nothing of this op was stored or acked.
 * Re-inserting the *same* message at its seq (a retry) is not an error.
 */
export class SeqTakenError extends StoreLayerError {
  readonly code = 'unavailable' as const;
  override readonly name = 'SeqTakenError';

  constructor(
    readonly conversation: string,
    readonly seq: number,
    /** message_id of the message stored there (the one that stays). */
    readonly storedMessageId: string,
    /** message_id of the refused message. */
    readonly refusedMessageId: string,
  ) {
    super(`seq ${seq} of conversation ${conversation} already holds message ${storedMessageId}; refused ${refusedMessageId} (the commit failed)`);
  }
}

export type StoreError = OverloadedError | StoreUnavailableError | InvalidWriteError | SeqTakenError;

export function isStoreError(err: unknown): err is StoreError {
  return err instanceof StoreLayerError;
}
