/**
 * Burst collapsing and retry timing, as pure functions.
 *
 * A slot is one (device, conversation). At most one push leaves a slot per
 * collapseWindowMs: the first message of a quiet conversation goes at once; messages
 * arriving within the window after a push merge into one pending push that leaves
 * when the window ends and carries the newest seq (and so the newest unread count).
 * 20 messages in 2 s with a window of at least 2 s are 2 pushes.
 */

export interface SlotState {
  /** When the last push of this slot left (ms since epoch); null: none yet. */
  lastPushAt: number | null;
  /** The push waiting to leave: newest seq it covers and when it may leave. */
  pending: { seq: number; dueAt: number; unlessAcked: boolean } | null;
}

export const emptySlot = (): SlotState => ({ lastPushAt: null, pending: null });

/**
 * A message for this slot: merge it into the pending push. It may leave at readyAt,
 * but not before the window since the last push ends; a pending push that was due
 * earlier keeps its time (a burst does not postpone it). unlessAcked stays true only
 * while every merged message came while the device was online.
 */
export function offer(s: SlotState, seq: number, readyAt: number, unlessAcked: boolean, windowMs: number): SlotState {
  const earliest = s.lastPushAt === null ? readyAt : Math.max(readyAt, s.lastPushAt + windowMs);
  const p = s.pending;
  if (!p) return { ...s, pending: { seq, dueAt: earliest, unlessAcked } };
  return { ...s, pending: { seq: Math.max(p.seq, seq), dueAt: Math.min(p.dueAt, earliest), unlessAcked: p.unlessAcked && unlessAcked } };
}

/** The pending push left (or was settled without a send) at `now`. */
export function pushed(s: SlotState, now: number, sent: boolean): SlotState {
  return { lastPushAt: sent ? now : s.lastPushAt, pending: null };
}

/**
 * Delay before retry `attempt` (1 = the first retry): exponential backoff with full
 * jitter (a uniform draw in [0, min(maxMs, baseMs * 2^(attempt-1))]), so a provider
 * outage does not end in a synchronized wave of retries; never sooner than the
 * provider's Retry-After when it gave one.
 */
export function retryDelay(attempt: number, baseMs: number, maxMs: number, retryAfterMs: number | null, random: () => number): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  const jittered = Math.floor(random() * cap);
  return retryAfterMs === null ? jittered : Math.max(retryAfterMs, jittered);
}
