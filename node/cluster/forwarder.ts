/**
 * The op router of a clustered node: every client op that belongs to one conversation
 * runs on the owner of that conversation's shard, which alone assigns seqs, moves
 * cursors and writes (through its fenced writer). Ops for shards held here run
 * locally; the others are forwarded over the peer link to the owner and the node
 * waits for the result:
 *
 *   send            -> ForwardSend  / ForwardResult (typed: the hot path)
 *   every other op  -> ForwardCall  / CallResult    (CoreOp / CoreResult as JSON, read on
 *                      arrival by node/core/op_schema.ts: a mismatch never reaches the core)
 *   sync, list, presence -> always local (sync reads the store; see ChatService.sync)
 *
 * Failures are the client's retryable errors: no owner right now (a takeover is in
 * progress), no link to the owner, the owner's queue full, or no answer in time
 * (`unavailable` / `overloaded` with retry_after_ms). A forwarded send that timed out
 * may still have been applied; the client's resend with the same client_msg_id is
 * answered from the dedup key, so a retry never duplicates.
 */
import { create } from '@bufbuild/protobuf';
import { LinkFrameSchema, type CallResult, type ForwardCall, type ForwardResult, type ForwardSend, type LinkFrame } from '../../protocol/gen/cluster_pb.js';
import { ERROR_CODES, type ErrorCode } from '../../protocol/codes.js';
import type { Caller } from '../core/chat_types.js';
import { directConversationId, ID_PATTERN } from '../core/ids.js';
import { newGroupId } from '../core/chat_service.js';
import type { PeerLink } from '../peers/peer_link.js';
import type { ShardOwner } from './shard_map.js';
import type { CoreOp, CoreResult } from '../core/ops.js';
import { PendingCalls } from '../../supervisor/pending_calls.js';
import { parsePeerOp, parsePeerResult } from '../core/op_schema.js';
import { isDebug, logger } from '../../supervisor/log.js';

export interface ForwarderDeps {
  self: string;
  shardOf: (conversation: string) => number;
  /** Our token for the shard when we own it and accept its writes, else null. */
  heldToken: (shard: number) => number | null;
  ownerOf: (shard: number) => ShardOwner | null;
  link: (node: string) => PeerLink | undefined;
  /** Run an op here (never throws: errors come back as {r:'error'}). */
  local: (caller: Caller, op: CoreOp) => Promise<CoreResult>;
  /** How long a forwarded op may take. */
  callTimeoutMs?: number;
}

export interface ForwarderStats {
  forwarded: number;
  local: number;
  /** Ops refused before leaving: no owner, no link, link queue full. */
  refused: number;
  timedOut: number;
  /** Ops other nodes forwarded here. */
  served: number;
}

const RETRY_MS = 250;
/** Forwarding steps, at debug level (switchboardctl log-level debug; docs/LOGS.md). */
const dbg = (msg: string): void => {
  if (isDebug()) logger().debug({ evt: 'forward' }, msg);
};

function err(code: ErrorCode, message: string, retryAfterMs = RETRY_MS): CoreResult {
  return { r: 'error', code, message, retryAfterMs };
}

/** The conversation an op belongs to, or null for ops that run where the socket is. */
export function conversationOfOp(caller: Caller, op: CoreOp): string | null {
  switch (op.op) {
    case 'sync':
    case 'list':
    case 'presence_subscribe':
    case 'presence_settings':
    case 'push_register':
    case 'push_unregister':
    case 'push_mute':
      return null;
    case 'open_direct':
      // Malformed peers are refused by the local service with its own error.
      return ID_PATTERN.test(op.peer) && op.peer !== caller.user ? directConversationId(caller.user, op.peer) : null;
    case 'create_group':
      return op.id ?? null;
    default:
      return op.conversation;
  }
}

export class Forwarder {
  readonly stats: ForwarderStats = { forwarded: 0, local: 0, refused: 0, timedOut: 0, served: 0 };
  /** Ops forwarded from here, waiting for their owner's result; tagged with the owner and the shard. */
  private readonly calls = new PendingCalls<CoreResult, { node: string; shard: number }>({
    noReply: (n, to) => {
      if (n.why !== 'timeout') return err('unavailable', `lost the link to ${to?.node} while it ran the op; retry (a resend is deduplicated)`);
      this.stats.timedOut++;
      return err('unavailable', `the owner of conversation shard ${to?.shard} (${to?.node}) did not answer in time; retry (a resend is deduplicated)`);
    },
  });
  /** Ops other nodes forwarded here that are still running: "node/callId" -> op and start. */
  private readonly serving = new Map<string, { op: string; since: number }>();

  constructor(private readonly d: ForwarderDeps) {}

  /** Run `op` for `caller` here or at its conversation's owner. Never throws. */
  async run(caller: Caller, op: CoreOp): Promise<CoreResult> {
    // A new group's id is chosen here so the op can go straight to its owner.
    if (op.op === 'create_group' && !op.id) op = { ...op, id: newGroupId() };
    const conv = conversationOfOp(caller, op);
    if (conv === null) return this.runLocal(caller, op);
    const shard = this.d.shardOf(conv);
    if (this.d.heldToken(shard) !== null) return this.runLocal(caller, op);
    const owner = this.d.ownerOf(shard);
    if (!owner || owner.node === this.d.self) {
      this.stats.refused++;
      return err('unavailable', `conversation shard ${shard} has no owner right now (moving); retry`);
    }
    const link = this.d.link(owner.node);
    if (!link || link.linkState !== 'up') {
      this.stats.refused++;
      return err('unavailable', `the owner of conversation shard ${shard} (${owner.node}) is not reachable; retry`);
    }
    const { id, reply } = this.calls.call({ tag: { node: owner.node, shard }, timeoutMs: this.d.callTimeoutMs ?? 10_000 });
    const callId = BigInt(id);
    const origin = { node: this.d.self, user: caller.user, device: caller.device, socketShard: caller.conn?.shard ?? 0, conn: caller.conn?.conn ?? 0 };
    const t0Ms = BigInt(Math.round(caller.t0 ?? 0));
    const frame: LinkFrame =
      op.op === 'send'
        ? create(LinkFrameSchema, {
            kind: {
              case: 'forwardSend',
              value: { callId, origin, send: { conversation: op.conversation, clientMsgId: op.clientMsgId, body: op.body, meta: op.meta }, conversationShard: shard, ownerToken: BigInt(owner.token), t0Ms },
            },
          })
        : create(LinkFrameSchema, { kind: { case: 'call', value: { callId, origin, opJson: JSON.stringify(caller.backend ? { ...op, backend: true } : op), conversationShard: shard, t0Ms } } });
    dbg(`call ${callId} ${op.op} -> ${owner.node} (link ${link.linkState})`);
    if (link.send(frame) !== 'ok') {
      this.calls.settle(id, err('overloaded', `the link to ${owner.node} is full; retry`, 500));
      this.stats.refused++;
    } else this.stats.forwarded++;
    return reply;
  }

  /** The link to `node` went down: its calls will not be answered. */
  linkDown(node: string): void {
    this.calls.close(`link to ${node} down`, (to) => to?.node === node);
  }

  // ------------------------------------------------------------------ owner side

  /** A peer forwarded a send: run it here if we (still) own its shard. */
  async onForwardSend(f: ForwardSend, reply: (frame: LinkFrame) => void): Promise<void> {
    this.stats.served++;
    const o = f.origin;
    const s = f.send;
    let res: CoreResult;
    if (!o || !s) res = err('bad_frame', 'forward_send without origin or send', 0);
    else if (this.d.heldToken(f.conversationShard) === null) res = err('unavailable', `this node no longer owns conversation shard ${f.conversationShard}; retry`);
    else {
      const caller: Caller = { user: o.user, device: o.device, conn: null, t0: Number(f.t0Ms), origin: { node: o.node, shard: o.socketShard, conn: o.conn } };
      res = await this.serve(o.node, f.callId, 'send', () => this.d.local(caller, { op: 'send', conversation: s.conversation, clientMsgId: s.clientMsgId, body: s.body, meta: s.meta }));
    }
    const value: Partial<ForwardResult> =
      res.r === 'send_ack'
        ? { callId: f.callId, result: { case: 'ack', value: { conversation: res.ack.conversation, clientMsgId: res.ack.clientMsgId, messageId: res.ack.messageId, seq: BigInt(res.ack.seq), serverTs: BigInt(res.ack.serverTs), duplicate: res.ack.duplicate } as never } }
        : res.r === 'error'
          ? { callId: f.callId, result: { case: 'error', value: { code: res.code, message: res.message, retryable: ERROR_CODES[res.code].retryable, retryAfterMs: res.retryAfterMs } as never } }
          : { callId: f.callId, result: { case: 'error', value: { code: 'internal', message: `unexpected result ${res.r}` } as never } };
    reply(create(LinkFrameSchema, { kind: { case: 'forwardResult', value: value as ForwardResult } }));
  }

  /**
   * A peer forwarded another op. It reaches the core only if it matches the op schema
   * (node/core/op_schema.ts); otherwise the peer gets the refusal, naming the field.
   */
  async onCall(f: ForwardCall, reply: (frame: LinkFrame) => void): Promise<void> {
    this.stats.served++;
    const o = f.origin;
    let res: CoreResult;
    const parsed = parsePeerOp(f.opJson);
    if (!o) res = err('bad_frame', 'forward call without origin', 0);
    else if (!parsed.ok) res = err(parsed.code, parsed.message, 0);
    else if (this.d.heldToken(f.conversationShard) === null) res = err('unavailable', `this node no longer owns conversation shard ${f.conversationShard}; retry`);
    else {
      const { op, backend } = parsed;
      const caller: Caller = { user: o.user, device: o.device, conn: null, t0: Number(f.t0Ms), origin: { node: o.node, shard: o.socketShard, conn: o.conn }, backend };
      res = await this.serve(o.node, f.callId, op.op, () => this.d.local(caller, op));
    }
    dbg(`served ${o?.node}/${f.callId} ${parsed.ok ? parsed.op.op : 'refused'} -> ${res.r}`);
    reply(create(LinkFrameSchema, { kind: { case: 'callResult', value: { callId: f.callId, resultJson: JSON.stringify(res) } } }));
  }

  private async serve(node: string, callId: bigint, op: string, fn: () => Promise<CoreResult>): Promise<CoreResult> {
    const key = `${node}/${callId}`;
    this.serving.set(key, { op, since: Date.now() });
    try {
      return await fn();
    } finally {
      this.serving.delete(key);
    }
  }

  /** Forwarded ops running here for longer than `ms` (for /admin/cluster). */
  slowServing(ms = 1_000): Array<{ call: string; op: string; ageMs: number }> {
    const now = Date.now();
    return [...this.serving].filter(([, v]) => now - v.since > ms).map(([call, v]) => ({ call, op: v.op, ageMs: now - v.since }));
  }

  // ------------------------------------------------------------------ results

  onForwardResult(f: ForwardResult): void {
    const r = f.result;
    let res: CoreResult;
    if (r.case === 'ack') {
      const a = r.value;
      res = { r: 'send_ack', ack: { conversation: a.conversation, clientMsgId: a.clientMsgId, messageId: a.messageId, seq: Number(a.seq), serverTs: Number(a.serverTs), duplicate: a.duplicate } };
    } else if (r.case === 'error') {
      const e = r.value;
      const code = (e.code in ERROR_CODES ? e.code : 'internal') as ErrorCode;
      res = { r: 'error', code, message: e.message, retryAfterMs: e.retryAfterMs };
    } else res = err('internal', 'empty forward result', 0);
    this.calls.settle(Number(f.callId), res);
  }

  onCallResult(f: CallResult): void {
    const res = parsePeerResult(f.resultJson);
    const matched = this.calls.settle(Number(f.callId), res);
    dbg(`result ${f.callId} ${matched ? 'matched' : 'NO PENDING'}`);
  }

  private runLocal(caller: Caller, op: CoreOp): Promise<CoreResult> {
    this.stats.local++;
    return this.d.local(caller, op);
  }
}
