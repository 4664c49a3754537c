/**
 * The host's side of one socket-shard thread: starts it, and routes its messages
 * (messages.ts) to the chat service, the HTTP API and the ticket store.
 */
import { Worker } from 'node:worker_threads';
import { ERROR_CODES, type ErrorCode } from '../../protocol/codes.js';
import type { CoreOp, CoreResult, HostToShard, ShardInit, ShardToHost } from '../../shards/messages.js';
import type { ChatService, Caller } from '../core/chat_service.js';
import { ChatError } from '../core/errors.js';

export interface LinkDeps {
  service: ChatService;
  http: (req: import('../../shards/messages.js').HttpRequest) => Promise<import('../../shards/messages.js').HttpResponse>;
  redeem: (ticket: string) => { user: string; device: string; exp: number } | null;
  log: (level: string, msg: string, fields?: Record<string, unknown>) => void;
  onListening?: (port: number) => void;
  onDrained?: () => void;
}

const BOOT = new URL('../../supervisor/ts_worker_boot.mjs', import.meta.url);
const ENTRY = new URL('../../shards/shard_main.ts', import.meta.url);

export function startShardThread(init: ShardInit): Worker {
  const isTs = ENTRY.pathname.endsWith('.ts');
  return isTs
    ? new Worker(BOOT, { workerData: { ...init, __entry: ENTRY.href } })
    : new Worker(ENTRY, { workerData: init });
}

export class ShardLink {
  constructor(
    readonly shard: number,
    private readonly worker: Worker,
    private readonly deps: LinkDeps,
  ) {
    worker.on('message', (m: ShardToHost) => this.onMessage(m));
  }

  post(m: HostToShard): void {
    this.worker.postMessage(m);
  }

  private onMessage(m: ShardToHost): void {
    const { service } = this.deps;
    switch (m.t) {
      case 'listening':
        this.deps.onListening?.(m.port);
        break;
      case 'open':
        service.connected({ shard: this.shard, conn: m.conn, user: m.user, device: m.device });
        break;
      case 'close':
        service.disconnected({ shard: this.shard, conn: m.conn, user: m.user, device: m.device });
        break;
      case 'req': {
        const caller: Caller = { user: m.user, device: m.device, conn: { shard: this.shard, conn: m.conn, user: m.user, device: m.device } };
        runOp(service, caller, m.op).then(
          (result) => this.post({ t: 'reply', conn: m.conn, reqId: m.reqId, result }),
          (e) => this.post({ t: 'reply', conn: m.conn, reqId: m.reqId, result: toErrorResult(e, this.deps.log) }),
        );
        break;
      }
      case 'http':
        this.deps.http(m.req).then((res) => this.post({ t: 'http_reply', id: m.id, res }));
        break;
      case 'redeem':
        this.post({ t: 'redeemed', id: m.id, identity: this.deps.redeem(m.ticket) });
        break;
      case 'drained':
        this.deps.onDrained?.();
        break;
    }
  }
}

async function runOp(service: ChatService, caller: Caller, op: CoreOp): Promise<CoreResult> {
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
      return { r: 'history_page', page: await service.history(caller, op.conversation, op.beforeSeq, op.limit) };
    case 'open_direct':
      return { r: 'direct_opened', conversation: await service.openDirect(caller.user, op.peer) };
    case 'list':
      return { r: 'conversations', list: await service.listConversations(caller.user) };
  }
}

export function toErrorResult(e: unknown, log: LinkDeps['log']): CoreResult {
  if (e instanceof ChatError) return { r: 'error', code: e.code, message: e.message, retryAfterMs: e.retryAfterMs };
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && code in ERROR_CODES) {
    return { r: 'error', code: code as ErrorCode, message: (e as Error).message, retryAfterMs: code === 'overloaded' ? 100 : 0 };
  }
  log('error', 'request failed', { err: e instanceof Error ? e.stack : String(e) });
  return { r: 'error', code: 'internal', message: 'internal error', retryAfterMs: 0 };
}
