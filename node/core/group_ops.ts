/**
 * Runs the ops added for groups, presence and typing (shards/messages.ts GroupOp)
 * against the chat service. The host's shard link hands every GroupOp here, so new
 * ops of this family need no change in the host.
 */
import type { Caller, ChatService } from './chat_service.js';
import { CatalogError } from '../../protocol/errors.js';
import type { CoreResult, GroupOp } from './ops.js';

export async function runGroupOp(service: ChatService, caller: Caller, op: GroupOp): Promise<CoreResult> {
  switch (op.op) {
    case 'create_group':
      return { r: 'group_info', info: await service.createGroup(caller, op.subject, op.members, op.id) };
    case 'add_members':
      return { r: 'group_info', info: await service.addMembers(caller, op.conversation, op.users) };
    case 'remove_members':
      return { r: 'group_info', info: await service.removeMembers(caller, op.conversation, op.users) };
    case 'leave_group':
      return { r: 'group_info', info: await service.leaveGroup(caller, op.conversation) };
    case 'set_subject':
      return { r: 'group_info', info: await service.setSubject(caller, op.conversation, op.subject) };
    case 'member_receipts':
      return { r: 'member_receipts', detail: await service.memberReceipts(caller, op.conversation, op.seq) };
    case 'presence_subscribe':
      if (!caller.conn) throw new CatalogError('forbidden', 'presence subscriptions belong to a connection');
      return { r: 'presence', users: await service.presence.subscribe(caller.conn, op.users) };
    case 'presence_settings':
      return { r: 'presence', users: [await service.presence.setHidden(caller.user, op.hideLastSeen)] };
    case 'typing':
      await service.typing(caller, op.conversation);
      return { r: 'ok' };
  }
}
