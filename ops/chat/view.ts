/**
 * What the terminal client prints, as pure functions of SDK state: one line per
 * event, so it reads well in a scrolling terminal, in tmux, or piped to a file.
 */
import type { ConversationInfo, PresenceState, StoredMessage, Tick } from '../../protocol/sdk/index.js';

export const TICKS: Record<Tick, string> = {
  pending: '… sending',
  failed: '! not sent',
  sent: '✓ sent',
  delivered: '✓✓ delivered',
  read: '✓✓ read (blue)',
};

/**
 * How a conversation is named on screen. Before the client has learnt its members (a
 * push can arrive before the list), `fallback` (the sender) names a direct chat.
 */
export function label(c: ConversationInfo | undefined, me: string, fallback?: string): string {
  if (c?.kind === 'group') return c.subject ? `group "${c.subject}"` : 'group';
  return c?.members.filter((u) => u !== me).join(', ') || fallback || c?.id || '?';
}

export function systemText(m: StoredMessage): string {
  const by = m.meta.by ?? m.sender;
  switch (m.meta.system) {
    case 'group_created':
      return `${by} created the group "${m.meta.subject ?? ''}"`;
    case 'member_added':
      return `${by} added ${m.meta.users}`;
    case 'member_removed':
      return `${by} removed ${m.meta.users}`;
    case 'member_left':
      return `${m.meta.users} left`;
    case 'subject_changed':
      return `${by} renamed the group to "${m.meta.subject ?? ''}"`;
    default:
      return `${by}: ${m.meta.system}`;
  }
}

/** `#3 12:04 bob: hello`, prefixed with the conversation when it is not the open one. */
export function messageLine(m: StoredMessage, me: string, where: string | null): string {
  const time = new Date(m.serverTs).toISOString().slice(11, 16);
  const prefix = where ? `[${where}] ` : '';
  if (m.meta.system) return `${prefix}#${m.seq} ${time} * ${systemText(m)}`;
  const media = m.media ? `[attachment: ${m.media.mime}, ${m.media.size} bytes${m.media.width ? `, ${m.media.width}×${m.media.height}` : ''}; /url ${m.seq}]${m.body ? ' ' : ''}` : '';
  return `${prefix}#${m.seq} ${time} ${m.sender === me ? 'you' : m.sender}: ${media}${m.body}`;
}

/** The MIME type the node will check a file against, from its extension. */
export function mimeOf(path: string): string {
  const ext = path.toLowerCase().split('.').pop() ?? '';
  const known: Record<string, string> = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp', pdf: 'application/pdf', txt: 'text/plain', mp4: 'video/mp4' };
  return known[ext] ?? 'application/octet-stream';
}

export function presenceLine(p: PresenceState): string {
  if (p.online) return `* ${p.user} is online`;
  if (p.lastSeenHidden || !p.lastSeenMs) return `* ${p.user} is offline`;
  return `* ${p.user} is offline, last seen ${new Date(p.lastSeenMs).toISOString().slice(11, 19)} UTC`;
}

export const HELP = [
  'commands:',
  '  /open USER              open (or switch to) the chat with USER',
  '  /group NAME U1,U2,...   create a group with those members',
  '  /list                   your conversations, numbered',
  '  /go N                   switch to conversation N of /list',
  '  /history                show older messages of this conversation',
  '  /file PATH [caption]    send a file as an attachment',
  '  /url N                  a download URL for the attachment of message #N',
  '  /quit                   leave (unsent messages stay queued in the state file)',
  '  anything else           is sent to the open conversation',
].join('\n');
