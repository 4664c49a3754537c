/**
 * Who gets a push, as pure functions of (message, members, registrations, presence,
 * mutes, now): no I/O, no clock of its own. The outbox (outbox.ts) is the shell that
 * reads the inputs and carries the decisions out.
 *
 *  - Never the sender's own devices (the user wrote it; their other devices sync).
 *  - Only current members of the conversation.
 *  - Not while the user muted the conversation.
 *  - Not for system messages the user does not need to see: only being added to a
 *    group wakes a device (`group_created`, whose members were all added by its
 *    creator, and `member_added` naming the user); subject changes and other people
 *    joining or leaving wait for the next sync.
 *  - A device with a live connection anywhere in the cell gets the message on its
 *    socket: it is pushed only if it has not acked delivery within ackWaitMs (a socket
 *    that is half-dead, an app suspended with its socket open). A device with no live
 *    connection is pushed at once.
 */
import type { PushMode, PushRegistration } from './types.js';

export interface RuleMessage {
  sender: string;
  senderDevice: string;
  meta: Readonly<Record<string, string>>;
}

export interface RuleInput {
  message: RuleMessage;
  /** Members of the conversation as of the message's commit. */
  members: readonly string[];
  /** Registrations of (some of) the members. */
  devices: readonly PushRegistration[];
  /** Whether the device has a live connection anywhere in the cell now. */
  online: (user: string, device: string) => boolean;
  /** Mutes of this conversation: user -> until (ms since epoch). */
  mutedUntil: ReadonlyMap<string, number>;
  now: number;
  ackWaitMs: number;
}

export interface PushTarget {
  reg: PushRegistration;
  /** Earliest time to push (now for an offline device, now + ackWaitMs for an online one). */
  readyAt: number;
  /** true: push only if the device has not acked delivery of the seq by readyAt. */
  unlessAcked: boolean;
}

/** The system messages that wake a recipient: being added to a group (the sender is never pushed anyway). */
export function systemMessageWakes(meta: Readonly<Record<string, string>>, user: string): boolean {
  const kind = meta.system;
  if (kind === undefined) return true;
  if (kind === 'group_created') return true;
  if (kind === 'member_added') return (meta.users ?? '').split(',').includes(user);
  return false;
}

/** The devices to push for one message, and when. */
export function pushTargets(input: RuleInput): PushTarget[] {
  const members = new Set(input.members);
  const out: PushTarget[] = [];
  for (const reg of input.devices) {
    if (reg.user === input.message.sender) continue;
    if (!members.has(reg.user)) continue;
    if ((input.mutedUntil.get(reg.user) ?? 0) > input.now) continue;
    if (!systemMessageWakes(input.message.meta, reg.user)) continue;
    const online = input.online(reg.user, reg.device);
    out.push({ reg, readyAt: online ? input.now + input.ackWaitMs : input.now, unlessAcked: online });
  }
  return out;
}

/** Longest preview body carried in a push (providers cap payloads at 4 KB; a preview is a glance). */
export const PREVIEW_CHARS = 180;

/** The preview a push may carry: only with mode 'preview' (user opt-in), never for system messages. */
export function previewOf(mode: PushMode, message: RuleMessage & { body: string }): { sender: string; body: string } | null {
  if (mode !== 'preview' || message.meta.system !== undefined) return null;
  const chars = [...message.body];
  return { sender: message.sender, body: chars.length > PREVIEW_CHARS ? chars.slice(0, PREVIEW_CHARS - 1).join('') + '…' : message.body };
}

/** Unread messages for the badge: those above the user's furthest read watermark (at least 1: this push's). */
export function unreadCount(seq: number, readWatermarks: readonly number[]): number {
  return Math.max(1, seq - Math.max(0, ...readWatermarks));
}
