/**
 * The sequencer of one conversation, as a pure state machine:
 * `step(state, event) -> { state, effects }`. No I/O, no clock, no maps: the chat
 * service (the shell) holds one state per cached conversation, feeds it events and
 * carries out the effects (write with this epoch, publish, drop the cache entry).
 *
 * The rule it exists for (issue 12, "sequencing that cannot fork"):
 *   - A seq is handed out only from *the* cached state of a conversation whose shard
 *     this node owns, and only while the ownership epoch (the fencing token) under
 *     which that state was loaded is still the current one. A state loaded under
 *     epoch 7 never hands out a seq under epoch 9, even though the node owns the
 *     shard again: another owner may have written in between (epoch 8), so the
 *     counters may be behind the store.
 *   - Every write carries the epoch of the state that assigned its seq; the writer
 *     refuses a write whose epoch is no longer current (node/host, node/cluster), and
 *     the store refuses a write that would change an existing seq (node/store).
 *   - A state whose write failed, or whose epoch ended, is *retired*: it never
 *     assigns again. The shell drops it and loads a fresh one (counters re-read from
 *     the store) under the current epoch. Concurrent sends therefore never increment
 *     private copies: there is one live state per (conversation, epoch), and a send
 *     that held a retired one is refused (`unavailable`, retryable) or re-reads the
 *     live one before it assigns.
 *
 * Epochs on a single node: the constant SINGLE_NODE_EPOCH (the node always owns every
 * conversation, and a restart of the chat service starts from fresh states anyway).
 */

/** The epoch of every state on a node that is not part of a cell. */
export const SINGLE_NODE_EPOCH = 0;

export interface SeqState {
  /** Ownership epoch (fencing token) under which the counters were loaded. */
  readonly epoch: number;
  /** Highest seq handed out (>= committed). */
  readonly assigned: number;
  /** Highest durable seq whose deliveries have been posted. */
  readonly committed: number;
  /** Why this state may no longer assign (null: live). */
  readonly retired: RetireReason | null;
}

export type RetireReason =
  /** A write of this conversation failed: the counters may run past what is stored. */
  | 'write_failed'
  /** The shard moved (lost, released, re-acquired under a new epoch). */
  | 'epoch_ended';

export type SeqEvent =
  /**
   * A send (or a membership change) wants `count` new seqs. `epoch` is the node's
   * current epoch for the conversation's shard (null: not owned now); `room` is how
   * many ops the write queue takes now.
   */
  | { readonly t: 'assign'; readonly epoch: number | null; readonly room: number; readonly count?: number }
  /** A write with seqs up to `seq` is durable. */
  | { readonly t: 'durable'; readonly seq: number }
  /** A write of this conversation failed (not durable, not acked). */
  | { readonly t: 'write_failed' }
  /** The ownership epoch of the shard is now `epoch` (null: not owned). */
  | { readonly t: 'epoch'; readonly epoch: number | null };

export type SeqEffect =
  /** Write the message(s) at seqs first..last, carrying `epoch` as the write's fence. */
  | { readonly t: 'write'; readonly first: number; readonly last: number; readonly epoch: number }
  /** Refuse the request: nothing was assigned. */
  | { readonly t: 'refuse'; readonly code: 'unavailable' | 'overloaded'; readonly why: RefuseWhy }
  /** `committed` moved to `seq`: deliver in seq order, answer syncs up to it. */
  | { readonly t: 'publish'; readonly seq: number }
  /** This state is retired: drop it from the cache; the next use loads a fresh one. */
  | { readonly t: 'drop' };

export type RefuseWhy =
  /** The node does not own the shard now. */
  | 'not_owner'
  /** The state was loaded under another epoch, or retired: re-read the live one. */
  | 'stale_state'
  /** The write queue is full (refused before taking a seq: no gap, no reuse). */
  | 'queue_full';

export interface SeqStep {
  state: SeqState;
  effects: SeqEffect[];
}

/** A live state loaded under `epoch` from a store whose last seq is `lastSeq`. */
export function loaded(epoch: number, lastSeq: number): SeqState {
  return { epoch, assigned: lastSeq, committed: lastSeq, retired: null };
}

export function step(s: SeqState, e: SeqEvent): SeqStep {
  switch (e.t) {
    case 'assign': {
      const count = e.count ?? 1;
      if (e.epoch === null) return { state: s, effects: [{ t: 'refuse', code: 'unavailable', why: 'not_owner' }] };
      if (s.retired !== null || s.epoch !== e.epoch) {
        // An epoch the state did not load under retires it (the shell should have
        // been told already; this is the check that holds if it was not).
        const state = s.retired !== null ? s : { ...s, retired: 'epoch_ended' as const };
        return { state, effects: [{ t: 'refuse', code: 'unavailable', why: 'stale_state' }, { t: 'drop' }] };
      }
      // Refuse before taking a seq: a seq handed out and then refused by a full queue
      // would be a gap, and re-reading the counter with earlier seqs still queued
      // could hand a queued seq out twice.
      if (e.room < count) return { state: s, effects: [{ t: 'refuse', code: 'overloaded', why: 'queue_full' }] };
      const first = s.assigned + 1;
      const last = s.assigned + count;
      return { state: { ...s, assigned: last }, effects: [{ t: 'write', first, last, epoch: s.epoch }] };
    }
    case 'durable': {
      // Writes of one state commit in seq order (FIFO writer, fail-queued), so a
      // durable seq at or below `committed` is a duplicate report: nothing to publish.
      if (e.seq <= s.committed) return { state: s, effects: [] };
      return { state: { ...s, committed: e.seq }, effects: [{ t: 'publish', seq: e.seq }] };
    }
    case 'write_failed': {
      if (s.retired !== null) return { state: s, effects: [{ t: 'drop' }] };
      return { state: { ...s, retired: 'write_failed' }, effects: [{ t: 'drop' }] };
    }
    case 'epoch': {
      if (e.epoch === s.epoch || s.retired !== null) return { state: s, effects: s.retired !== null ? [{ t: 'drop' }] : [] };
      return { state: { ...s, retired: 'epoch_ended' }, effects: [{ t: 'drop' }] };
    }
  }
}
