/**
 * The host's side of one socket-shard thread: routes the thread's messages
 * (shards/messages.ts) to the chat service, the HTTP API and the ticket store, and
 * carries the host's pushes and metric requests to it.
 */
import type { Worker } from 'node:worker_threads';
import { ERROR_CODES, type ErrorCode } from '../../protocol/codes.js';
import type { CoreOp, CoreResult, HostToShard, HttpRequest, HttpResponse, ShardToHost } from '../../shards/messages.js';
import type { ChatService, Caller } from '../core/chat_service.js';
import { ChatError } from '../core/errors.js';
import type { ConnectionRegistry } from '../core/registry.js';
import { runGroupOp } from '../core/group_ops.js';

export interface LinkDeps {
  /** The current chat service (throws `unavailable` while it restarts). */
  chat: () => ChatService;
  registry: ConnectionRegistry;
  http: (req: HttpRequest) => Promise<HttpResponse>;
  redeem: (ticket: string) => { user: string; device: string; exp: number } | null;
  verify: (token: string) => Promise<import('../tasks/verify_token_task.js').VerifyResult>;
  log: (level: string, msg: string, fields?: Record<string, unknown>) => void;
  onDrained?: () => void;
}

export class ShardLink {
  private nextId = 1;
  private readonly metricCalls = new Map<number, (json: unknown) => void>();
  private drainedWaiters: Array<() => void> = [];

  constructor(
    readonly shard: number,
    private readonly worker: Worker,
    private readonly deps: LinkDeps,
  ) {
    worker.on('message', (m: ShardToHost | { type: string }) => {
      if ('t' in m) this.onMessage(m);
    });
  }

  post(m: HostToShard, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(m, transfer);
  }

  /** The shard's prom-client metrics as JSON, or null if it does not answer in time. */
  metrics(timeoutMs = 3000): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.metricCalls.delete(id);
        resolve(null);
      }, timeoutMs);
      this.metricCalls.set(id, (json) => {
        clearTimeout(t);
        resolve(json);
      });
      this.post({ t: 'metrics', id });
    });
  }

  /** Ask the shard to drain; resolves when it has sent goaway and closed its sockets. */
  drain(reconnectAfterMs: number, jitterMs: number): Promise<void> {
    return new Promise((resolve) => {
      this.drainedWaiters.push(resolve);
      this.post({ t: 'drain', reconnectAfterMs, jitterMs });
    });
  }

  private onMessage(m: ShardToHost): void {
    switch (m.t) {
      case 'listening':
        break;
      case 'open':
      case 'close': {
        // The registry belongs to the host, so it outlives a restart of the chat child.
        if (m.t === 'open') this.deps.registry.add({ shard: this.shard, conn: m.conn, user: m.user, device: m.device });
        else this.deps.registry.remove(m.user, this.shard, m.conn);
        break;
      }
      case 'req': {
        const caller: Caller = { user: m.user, device: m.device, conn: { shard: this.shard, conn: m.conn, user: m.user, device: m.device }, t0: m.t0 };
        Promise.resolve()
          .then(() => runOp(this.deps.chat(), caller, m.op))
          .then(
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
      case 'verify':
        this.deps.verify(m.token).then(
          (result) => this.post({ t: 'verified', id: m.id, result }),
          (e) => {
            this.deps.log('error', 'token verification task failed', { err: String(e) });
            this.post({ t: 'verified', id: m.id, result: { ok: false, code: 'unauthenticated', message: 'verification unavailable; retry' } });
          },
        );
        break;
      case 'metrics':
        this.metricCalls.get(m.id)?.(m.json);
        this.metricCalls.delete(m.id);
        break;
      case 'drained':
        for (const w of this.drainedWaiters) w();
        this.drainedWaiters = [];
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
    default:
      return runGroupOp(service, caller, op);
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
