/**
 * Groups: creation and every membership / subject change, each recorded as a system
 * message that takes the conversation's next seq, so changes are ordered with the
 * messages (the rules of who may do what are in group_rules.ts).
 */
import { randomBytes } from 'node:crypto';
import { CatalogError } from '../../protocol/errors.js';
import type { Caller, ConvState, ServiceLimits, Writer } from './chat_types.js';
import type { ConversationCache } from './conversations.js';
import { checkSubject, checkUsers, infoOf, isAdmin, promoteIfNoAdmin } from './group_rules.js';
import { newMessageId } from './ids.js';
import { enforce } from './enforce.js';
import { groupIdRule } from './op_rules.js';
import type { Messaging } from './messaging.js';
import type { GroupInfo } from './ops.js';
import type { ReceiptService } from './receipt_service.js';
import type { Conversation, Member, StoredMessage, WriteOp } from '../store/types.js';

/** What one change does: members in and out, maybe a subject, and its system message's meta. */
interface GroupChange {
  add: Member[];
  remove: string[];
  subject?: string;
  meta: Record<string, string>;
}

export class GroupService {
  constructor(
    private readonly convs: ConversationCache,
    private readonly writer: Writer,
    private readonly messaging: Messaging,
    private readonly receipts: ReceiptService,
    private readonly limits: ServiceLimits,
    private readonly now: () => number,
  ) {}

  /**
   * Create a group: the caller is its admin, `members` join as members. Seq 1 is the
   * system message {"system":"group_created"}.
   */
  async createGroup(caller: Caller, subject: string, members: string[], id = newGroupId()): Promise<GroupInfo> {
    checkSubject(subject);
    const others = [...new Set(members)].filter((u) => u !== caller.user);
    checkUsers(others);
    if (others.length + 1 > this.limits.maxConversationMembers) {
      throw new CatalogError('limit_exceeded', `a group of ${others.length + 1} members; the limit is ${this.limits.maxConversationMembers}`);
    }
    enforce(groupIdRule(id));
    const conv: Conversation = {
      id,
      kind: 'group',
      members: [{ user: caller.user, role: 'admin' as const }, ...others.map((user) => ({ user, role: 'member' as const }))],
      createdAt: this.now(),
      subject,
    };
    const message = this.systemMessage(id, 1, caller, { system: 'group_created', by: caller.user, subject });
    await this.writer.submitMany(
      [
        { kind: 'conversation', conversation: conv },
        { kind: 'message', message },
      ],
      this.convs.ownedEpoch(id),
    );
    this.convs.usersChanged(conv.members.map((m) => m.user));
    const st = await this.convs.state(id);
    if (!st) throw new CatalogError('unavailable', 'conversation was not readable after creation');
    this.messaging.committed(st, message, caller);
    return infoOf(st, 1);
  }

  async addMembers(caller: Caller, conversation: string, users: string[]): Promise<GroupInfo> {
    const wanted = [...new Set(users)];
    checkUsers(wanted);
    return this.changeGroup(caller, conversation, true, (st) => {
      const add = wanted.filter((u) => !st.memberSet.has(u));
      if (st.memberSet.size + add.length > this.limits.maxConversationMembers) {
        throw new CatalogError('limit_exceeded', `${st.memberSet.size} + ${add.length} members; the limit is ${this.limits.maxConversationMembers}`);
      }
      if (add.length === 0) return null;
      return { add: add.map((user) => ({ user, role: 'member' as const })), remove: [], meta: { system: 'member_added', users: add.join(','), by: caller.user } };
    });
  }

  async removeMembers(caller: Caller, conversation: string, users: string[]): Promise<GroupInfo> {
    const wanted = [...new Set(users)];
    checkUsers(wanted);
    return this.changeGroup(caller, conversation, true, (st) => {
      const remove = wanted.filter((u) => st.memberSet.has(u));
      if (remove.length === 0) return null;
      return { add: promoteIfNoAdmin(st, remove), remove, meta: { system: 'member_removed', users: remove.join(','), by: caller.user } };
    });
  }

  leaveGroup(caller: Caller, conversation: string): Promise<GroupInfo> {
    return this.changeGroup(caller, conversation, false, (st) => ({
      add: promoteIfNoAdmin(st, [caller.user]),
      remove: [caller.user],
      meta: { system: 'member_left', users: caller.user, by: caller.user },
    }));
  }

  setSubject(caller: Caller, conversation: string, subject: string): Promise<GroupInfo> {
    checkSubject(subject);
    return this.changeGroup(caller, conversation, true, (st) =>
      st.conv.subject === subject ? null : { add: [], remove: [], subject, meta: { system: 'subject_changed', subject, by: caller.user } },
    );
  }

  /**
   * One membership / subject change, ordered with the messages: the system message
   * takes the next seq, and the change and the message commit in one batch. Who may
   * send and read changes at assignment (a removed user cannot sneak a message in after
   * its removal); who gets pushes changes when the system message commits, and the
   * removed users still get that message, so they learn of it.
   */
  private async changeGroup(caller: Caller, conversation: string, adminOnly: boolean, plan: (st: ConvState) => GroupChange | null): Promise<GroupInfo> {
    const st = await this.convs.sequencing(caller.user, conversation);
    if (st.conv.kind !== 'group') throw new CatalogError('forbidden', 'direct conversations have no membership changes');
    if (adminOnly && !isAdmin(st, caller.user)) throw new CatalogError('forbidden', 'only a group admin may do this');
    const change = plan(st);
    if (!change) return infoOf(st, st.seq.committed);
    // Up to 3 ops (members, subject, message) commit together.
    const { first: seq, epoch } = this.convs.assign(st, 1, 3);
    for (const m of change.add) {
      st.memberSet.add(m.user);
      st.former.delete(m.user);
    }
    for (const u of change.remove) {
      st.memberSet.delete(u);
      st.former.set(u, seq);
    }
    const message = this.systemMessage(st.conv.id, seq, caller, change.meta);
    const ops: WriteOp[] = [{ kind: 'members', conversation: st.conv.id, add: change.add, remove: change.remove.map((user) => ({ user, untilSeq: seq })) }];
    if (change.subject !== undefined) ops.push({ kind: 'subject', conversation: st.conv.id, subject: change.subject });
    ops.push({ kind: 'message', message });
    try {
      await this.writer.submitMany(ops, epoch);
    } catch (e) {
      this.convs.feed(st, { t: 'write_failed' });
      throw e;
    }
    const before = st.conv.members.map((m) => m.user);
    const removed = new Set(change.remove);
    const roles = new Map(change.add.map((m) => [m.user, m.role]));
    const members = st.conv.members.filter((m) => !removed.has(m.user)).map((m) => ({ ...m, role: roles.get(m.user) ?? m.role }));
    for (const m of change.add) if (!members.some((x) => x.user === m.user)) members.push(m);
    st.conv = { ...st.conv, members, subject: change.subject ?? st.conv.subject };
    this.convs.usersChanged(change.add.map((m) => m.user));
    this.messaging.committed(st, message, caller, new Set([...before, ...members.map((m) => m.user)]));
    if (removed.size) this.receipts.scheduleGroupReceipts(st.conv.id);
    return infoOf(st, seq);
  }

  private systemMessage(conversation: string, seq: number, caller: Caller, meta: Record<string, string>): StoredMessage {
    const messageId = newMessageId();
    return { conversation, seq, messageId, sender: caller.user, senderDevice: caller.device, clientMsgId: `sys:${messageId}`, body: '', meta, serverTs: this.now() };
  }
}

export function newGroupId(): string {
  return 'g_' + randomBytes(16).toString('base64url');
}
