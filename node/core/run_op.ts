/**
 * Runs one client op (shards/messages.ts CoreOp) against the chat service and shapes
 * its CoreResult. The one entry point for ops, whether they came from a local socket,
 * the HTTP API or another cluster node (node/cluster/forwarder.ts).
 */
import type { Caller, ChatService } from './chat_service.js';
import { runGroupOp } from './group_ops.js';
import { ERROR_CODES, type ErrorCode } from '../../protocol/codes.js';
import { CatalogError } from '../../protocol/errors.js';
import type { CoreOp, CoreResult } from './ops.js';

export async function runOp(service: ChatService, caller: Caller, op: CoreOp): Promise<CoreResult> {

  switch (op.op) {
    case 'send':
      return { r: 'send_ack', ack: await service.send(caller, op) };
    case 'ack':
      await service.ack(caller, op.conversation, op.seq);
      return { r: 'ok' };
    case 'read':
      await service.read(caller, op.conversation, op.seq);
      return { r: 'ok' };
    case 'sync':
      return { r: 'sync_page', page: await service.sync(caller, op.cursors, op.limit) };
    case 'history':
      return { r: 'history_page', page: await service.history(caller.backend ? null : caller, op.conversation, op.beforeSeq, op.limit) };
    case 'open_direct':
      return { r: 'direct_opened', conversation: await service.openDirect(caller.user, op.peer) };
    case 'list':
      return { r: 'conversations', list: await service.listConversations(caller.user) };
    case 'media_slot':
      return { r: 'media_slot', slot: await service.mediaSlot(caller, op) };
    case 'media_url':
      return { r: 'media_url', url: await service.mediaUrl(caller, op.conversation, op.mediaId) };
    case 'push_register':
    case 'push_unregister':
    case 'push_mute':
      // The host runs these against the push store (node/push/push_node.ts) before ops reach the chat service.
      throw new CatalogError('invalid_argument', 'push notifications are not enabled on this server');
    default:
      return runGroupOp(service, caller, op);
  }
}

/** Any failure of an op as the client's error result (unknown failures are logged as `internal`). */
export function toErrorResult(e: unknown, log: (level: string, msg: string, fields?: Record<string, unknown>) => void): CoreResult {
  if (e instanceof CatalogError) return { r: 'error', code: e.code, message: e.message, retryAfterMs: e.retryAfterMs };
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && code in ERROR_CODES) {
    return { r: 'error', code: code as ErrorCode, message: (e as Error).message, retryAfterMs: code === 'overloaded' ? 100 : 0 };
  }
  log('error', 'request failed', { err: e instanceof Error ? e.stack : String(e) });
  return { r: 'error', code: 'internal', message: 'internal error', retryAfterMs: 0 };
}
