/**
 * Group rules as pure functions over a conversation's cached state: argument checks,
 * who is an admin, who gets promoted when the last admin leaves, the info returned.
 */
import type { Member } from '../store/types.js';
import type { ConvState } from './chat_types.js';
import { enforce } from './enforce.js';
import { subjectRule, usersRule } from './op_rules.js';
import type { GroupInfo } from './ops.js';

export function checkSubject(subject: string): void {
  enforce(subjectRule(subject));
}

/** Well-formed user ids (how many a group may hold depends on its members: the caller checks). */
export function checkUsers(users: string[]): void {
  enforce(usersRule('users', users, Infinity));
}

export function isAdmin(st: ConvState, user: string): boolean {
  return st.conv.members.some((m) => m.user === user && m.role === 'admin');
}

/**
 * A group never ends up without an admin while it has members: when the last admins
 * go, the remaining member with the smallest user id is promoted in the same change.
 */
export function promoteIfNoAdmin(st: ConvState, leaving: string[]): Member[] {
  const gone = new Set(leaving);
  const rest = st.conv.members.filter((m) => !gone.has(m.user));
  if (rest.length === 0 || rest.some((m) => m.role === 'admin')) return [];
  const next = rest.map((m) => m.user).sort()[0];
  return [{ user: next, role: 'admin' }];
}

export function infoOf(st: ConvState, seq: number): GroupInfo {
  return { conversation: st.conv.id, subject: st.conv.subject, members: st.conv.members.map((m) => ({ ...m })), seq };
}
