/**
 * What the app-like clients record during a chaos run: every message they created,
 * every send_ack they got (from any connection, late ones included), every message
 * they saw (live push, sync page, their own send's ack, the final full sync) and
 * every send that failed for good. The checker (checker.ts) is a pure function of it.
 *
 * Observations are recorded once per (device, conversation, seq) and content: a
 * device that is shown the same message again records nothing; a device shown a
 * *different* message at a seq it already holds records it (that is a disagreement).
 */

/** How a device came to hold a message. */
export type Via = 'live' | 'sync' | 'final';

export interface SentMessage {
  conv: string;
  user: string;
  device: string;
  clientMsgId: string;
  body: string;
  at: number;
}

export interface AckEvent {
  conv: string;
  user: string;
  device: string;
  clientMsgId: string;
  seq: number;
  messageId: string;
  duplicate: boolean;
  at: number;
  /** The node whose connection carried the ack ('' if unknown). */
  node: string;
}

export interface SeenEvent {
  conv: string;
  seq: number;
  messageId: string;
  sender: string;
  clientMsgId: string;
  body: string;
  /** A system message (group_created, member_added, ...): not a client send. */
  system: boolean;
  /** user/device that saw it. */
  device: string;
  via: Via;
  at: number;
}

export interface FailEvent {
  conv: string;
  user: string;
  device: string;
  clientMsgId: string;
  error: string;
  at: number;
}

/** A device's final full sync: which conversations it covered, and whether it completed. */
export interface FinalSync {
  device: string;
  user: string;
  conversations: string[];
  complete: boolean;
  error?: string;
}

export interface History {
  sent: SentMessage[];
  acks: AckEvent[];
  seen: SeenEvent[];
  failures: FailEvent[];
  finals: FinalSync[];
  /** Sends still in an outbox when the run stopped waiting (neither acked nor failed). */
  unresolved: Array<{ conv: string; user: string; device: string; clientMsgId: string }>;
}

export function emptyHistory(): History {
  return { sent: [], acks: [], seen: [], failures: [], finals: [], unresolved: [] };
}

/** Identity of a message's content: two observations of one seq must have the same key. */
export function contentKey(m: { messageId: string; sender: string; clientMsgId: string; body: string }): string {
  return `${m.messageId}\u0000${m.sender}\u0000${m.clientMsgId}\u0000${m.body}`;
}
