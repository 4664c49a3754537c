/**
 * The host's side of one socket-shard thread: routes the thread's messages
 * (shards/messages.ts) to the chat service, the HTTP API and the ticket store, and
 * carries the host's pushes and metric requests to it.
 */
import type { Worker } from 'node:worker_threads';
import type { HostToShard, HttpRequest, HttpResponse, ShardToHost } from '../../shards/messages.js';
import type { Caller } from '../core/chat_service.js';
import { toErrorResult } from '../core/run_op.js';
import type { ConnectionRegistry } from '../core/registry.js';
import type { CoreOp, CoreResult } from '../core/ops.js';
import { PendingCalls } from '../../supervisor/pending_calls.js';
import { ChannelBatch } from '../../shards/channel_batch.js';
import { isHotResult, readOps } from '../../shards/channel_codec.js';
import { RingReader } from '../../shards/op_ring.js';

export interface LinkDeps {
  /** Runs a client's op: here, or at the owner of its conversation (node/cluster/forwarder.ts). */
  run: (caller: Caller, op: CoreOp) => Promise<CoreResult>;
  registry: ConnectionRegistry;
  http: (req: HttpRequest) => Promise<HttpResponse>;
  redeem: (ticket: string) => { user: string; device: string; exp: number } | null;
  verify: (token: string) => Promise<import('../tasks/verify_token_task.js').VerifyResult>;
  log: (level: string, msg: string, fields?: Record<string, unknown>) => void;
  onDrained?: () => void;
}

export class ShardLink {
  private readonly metricCalls = new PendingCalls<unknown>();
  private drainedWaiters: Array<() => void> = [];
  /** Keyed by the certificate generation, which the shard echoes. */
  private readonly tlsCalls = new PendingCalls<string | null>();
  /** Client ops from this shard waiting for their result (chat service, store, owner node): a queue depth. */
  inFlight = 0;
  /** send_ack, ok and error replies, packed per tick (shards/channel_codec.ts); flushed before any other message. */
  private readonly replies: ChannelBatch;

  /**
   * The shard's op ring (shards/op_ring.ts), or null (shards.opRingMs 0: ops come as
   * `ops` messages). Drained on a doorbell, before any other message from the shard (so
   * ops keep their order with the object messages posted after them), and every
   * `ringMs` while ops flow; the shard rings only when this side is disarmed.
   */
  private readonly ring: RingReader | null;
  private ringTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly onOps = (conn: number, reqId: number, user: string, device: string, t0: number, op: CoreOp): void => this.run(conn, reqId, user, device, op, t0);
  private readonly onChunk = (buf: ArrayBuffer): void => readOps(buf, this.onOps);

  constructor(
    readonly shard: number,
    private readonly worker: Worker,
    opRing: SharedArrayBuffer | null,
    private readonly ringMs: number,
    private readonly deps: LinkDeps,
  ) {
    this.ring = opRing ? new RingReader(opRing) : null;
    this.replies = new ChannelBatch((buf) => this.worker.postMessage({ t: 'replies', buf } satisfies HostToShard, [buf]));
    worker.on('message', (m: ShardToHost | { type: string }) => {
      if (!('t' in m)) return;
      if (this.ring) this.drainRing();
      if (m.t !== 'bell') this.onMessage(m);
    });
    worker.once('exit', () => {
      if (this.ringTimer) clearTimeout(this.ringTimer);
      this.ringTimer = null;
    });
  }

  /** Drain; while ops flow stay armed and look again in ringMs; when a look finds none, disarm and look once more (the shard may have written before it saw the disarm). */
  private drainRing(): void {
    const ring = this.ring!;
    if (ring.drain(this.onChunk) > 0) {
      ring.setArmed(true);
      this.ringTimer ??= setTimeout(this.onRingTimer, this.ringMs);
    }
  }

  private readonly onRingTimer = (): void => {
    this.ringTimer = null;
    if (this.worker.threadId === -1) return; // the thread has ended: nothing more comes
    const ring = this.ring!;
    if (ring.drain(this.onChunk) > 0) {
      this.ringTimer = setTimeout(this.onRingTimer, this.ringMs);
      return;
    }
    ring.setArmed(false);
    if (ring.drain(this.onChunk) > 0) {
      ring.setArmed(true);
      this.ringTimer = setTimeout(this.onRingTimer, this.ringMs);
    }
  };

  /**
   * Every message to the shard goes through here: packed replies written before it go
   * first. A push batch carries them itself (one postMessage per tick for both, not
   * two: on this box a postMessage costs tens of µs of the host's thread).
   */
  post(m: HostToShard, transfer: ArrayBuffer[] = []): void {
    if (m.t === 'push' && this.replies.writer.count > 0) {
      const buf = this.replies.writer.take()!;
      this.worker.postMessage({ ...m, replies: buf } satisfies HostToShard, [...transfer, buf]);
      return;
    }
    this.replies.flush();
    this.worker.postMessage(m, transfer);
  }

  /** The shard's prom-client metrics as JSON, or null if it does not answer in time. */
  metrics(timeoutMs = 3000): Promise<unknown> {
    const { id, reply } = this.metricCalls.call({ timeoutMs, noReply: () => null });
    this.post({ t: 'metrics', id });
    return reply;
  }

  /** Ask the shard to drain; resolves when it has sent goaway and closed its sockets. */
  drain(reconnectAfterMs: number, jitterMs: number): Promise<void> {
    return new Promise((resolve) => {
      this.drainedWaiters.push(resolve);
      this.post({ t: 'drain', reconnectAfterMs, jitterMs });
    });
  }

  /**
   * Have the shard accept with this certificate (node/host/tls_reload.ts); resolves
   * with null once it does, or with why not.
   */
  reloadTls(gen: number, tls: { certFile: string; keyFile: string; passphrase: string }, timeoutMs = 10_000): Promise<string | null> {
    const reply = this.tlsCalls.callAs(gen, { timeoutMs, noReply: (n) => (n.why === 'timeout' ? `no answer in ${timeoutMs} ms` : n.why) });
    this.post({ t: 'tls', gen, tls });
    return reply;
  }

  /** One client op: run it, then answer (packed if the result is a hot one). */
  private run(conn: number, reqId: number, user: string, device: string, op: CoreOp, t0: number): void {
    const caller: Caller = { user, device, conn: { shard: this.shard, conn, user, device }, t0 };
    this.inFlight++;
    Promise.resolve()
      .then(() => this.deps.run(caller, op))
      .finally(() => this.inFlight--)
      .then(
        (result) => this.reply(conn, reqId, result),
        (e) => this.reply(conn, reqId, toErrorResult(e, this.deps.log)),
      );
  }

  private reply(conn: number, reqId: number, result: CoreResult): void {
    if (isHotResult(result)) {
      this.replies.writer.reply(conn, reqId, result);
      this.replies.written();
    } else this.post({ t: 'reply', conn, reqId, result });
  }

  private onMessage(m: ShardToHost): void {
    switch (m.t) {
      case 'listening':
        break;
      case 'open':
      case 'close': {
        // The registry belongs to the host, so it outlives a restart of the chat child.
        if (m.t === 'open') this.deps.registry.add({ shard: this.shard, conn: m.conn, user: m.user, device: m.device, openedSec: Math.floor(Date.now() / 1000) });
        else this.deps.registry.remove(m.user, this.shard, m.conn);
        break;
      }
      case 'req':
        this.run(m.conn, m.reqId, m.user, m.device, m.op, m.t0);
        break;
      case 'ops':
        readOps(m.buf, (conn, reqId, user, device, t0, op) => this.run(conn, reqId, user, device, op, t0));
        break;
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
        this.metricCalls.settle(m.id, m.json);
        break;
      case 'tls_loaded':
        this.tlsCalls.settle(m.gen, m.error);
        break;
      case 'drained':
        for (const w of this.drainedWaiters) w();
        this.drainedWaiters = [];
        this.deps.onDrained?.();
        break;
    }
  }
}
