/**
 * Every message between the SQLite store worker (./sqlite_worker.ts) and its handle in
 * the host (./sqlite_worker_store.ts): one union per direction, plus how a store error
 * crosses the thread boundary and comes back as the same typed error.
 *
 * Ops travel as one JSON string per commit, not as structured-cloned objects: a string
 * is copied as bytes, while a clone walks every op and its meta object on both threads.
 */
import { InvalidWriteError, SeqTakenError, StoreUnavailableError } from './errors.js';

/** What the worker is started with (its `workerData`, beside the boot's `__entry`). */
export interface SqliteWorkerData {
  path: string;
  busyTimeoutMs?: number;
  walAutocheckpointPages?: number;
}

/** The reads a worker answers (used when the host keeps no reader of its own, e.g. ':memory:'). */
export type ReadCall =
  | 'getConversation'
  | 'listUserConversations'
  | 'lastSeq'
  | 'firstSeq'
  | 'findByClientMsgId'
  | 'readAfter'
  | 'readBefore'
  | 'getCursors'
  | 'getPresence';

export type ToStoreWorker =
  /** One batch: `ops` is the JSON of a WriteOp[]; one transaction, one fsync. */
  | { t: 'commit'; id: number; ops: string }
  | { t: 'read'; id: number; call: ReadCall; args: unknown[] }
  /**
   * The host has seen a failed commit: commit again. After a failed commit the worker
   * refuses every commit posted before this (they were pipelined behind the failure,
   * and committing them over its hole would make the hole permanent; see
   * BatchWriterOptions.onBatchFailure).
   */
  | { t: 'resume' }
  /** Close the database and exit (after everything posted before it). */
  | { t: 'close' };

export type FromStoreWorker =
  /** The store is open (schema migrated): the host may open readers and commit. */
  | { t: 'ready' }
  /** The worker could not open the store. */
  | { t: 'open_failed'; error: WireError }
  | { t: 'ok'; id: number; value?: unknown }
  /** `refused`: a commit not attempted, posted behind a failed one (no `resume` owed for it). */
  | { t: 'failed'; id: number; error: WireError; refused?: true }
  | { t: 'closed' };

/** A store error as plain data. */
export interface WireError {
  name: string;
  message: string;
  seqTaken?: { conversation: string; seq: number; storedMessageId: string; refusedMessageId: string };
}

export function toWire(err: unknown): WireError {
  if (err instanceof SeqTakenError) {
    const { conversation, seq, storedMessageId, refusedMessageId } = err;
    return { name: err.name, message: err.message, seqTaken: { conversation, seq, storedMessageId, refusedMessageId } };
  }
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: 'Error', message: String(err) };
}

/**
 * The typed error again. Anything not a known store error becomes StoreUnavailableError:
 * the host cannot tell whether the batch is durable, which is what that error says.
 */
export function fromWire(e: WireError): Error {
  if (e.seqTaken) {
    const s = e.seqTaken;
    return new SeqTakenError(s.conversation, s.seq, s.storedMessageId, s.refusedMessageId);
  }
  if (e.name === 'InvalidWriteError') return new InvalidWriteError(e.message);
  if (e.name === 'RangeError') return new RangeError(e.message);
  return new StoreUnavailableError(e.message);
}
