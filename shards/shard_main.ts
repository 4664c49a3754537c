/**
 * Entry point of a socket-shard worker thread. Wires the uWS listener to the host
 * over the thread's port (messages.ts) and makes sure the thread never ends while
 * it still holds uWS sockets: that would abort the whole process. A stop request
 * from the supervisor and a crash both close every socket first (clients see 4001
 * or 4000 and reconnect), and only then does the thread end.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { decodeProtectedHeader } from 'jose';
import { createVerifier, bearerFromHeader } from '../node/auth/verify.js';
import { AuthError } from '../node/auth/errors.js';
import type { AuthConfig } from '../node/auth/types.js';
import { CLOSE_CODES } from '../protocol/codes.js';
import { serveSupervisor } from '../supervisor/thread_side.js';
import { configureLog, isDebug, log, logger, setLogLevel, traceId } from '../supervisor/log.js';
import { redact } from '../node/auth/redact.js';
import { PendingCalls } from '../supervisor/pending_calls.js';
import { Listener, type AuthOutcome } from './listener.js';
import { ShardMetrics } from './metrics.js';
import type { HostToShard, HttpResponse, ShardInit, ShardToHost } from './messages.js';
import { ChannelBatch } from './channel_batch.js';
import { RingWriter } from './op_ring.js';
import { isHotOp, readReplies } from './channel_codec.js';

const init = workerData as ShardInit;
const port = parentPort!;
/** send, ack and read to the host, packed per tick (channel_codec.ts); flushed before any other message, so the host sees everything in order. */
const ring = init.opRing ? new RingWriter(init.opRing) : null;
const ops = new ChannelBatch((buf) => {
  if (ring?.write(new Uint8Array(buf))) {
    if (!ring.hostArmed() && ring.claimBell()) port.postMessage({ t: 'bell' } satisfies ShardToHost);
    return;
  }
  port.postMessage({ t: 'ops', buf } satisfies ShardToHost, [buf]);
});
const post = (m: ShardToHost): void => {
  ops.flush();
  port.postMessage(m);
};
// Before any uWS object exists, so the thread may simply die.
if (init.fault === 'crash_shard_at_start') throw new Error('test fault: shard crashes at start');

// The process's logger, this thread's instance: every line says which node and shard.
configureLog({ level: init.logLevel, bindings: { node: init.nodeId, shard: init.shard }, scrub: redact });

const authCfg: AuthConfig = {
  issuer: init.auth.issuer || undefined,
  audience: init.auth.audience || undefined,
  clockToleranceSec: init.auth.clockToleranceSec,
  ticketTtlMs: init.auth.ticketTtlMs,
  keys: init.auth.keys,
};
const verifier = createVerifier(authCfg);
const metrics = new ShardMetrics(init.shard);

// Calls to the host, answered over the same port. No timeouts: the host answers each
// one (or this thread ends with it), as before.
const httpCalls = new PendingCalls<HttpResponse>();
const redeemCalls = new PendingCalls<{ user: string; device: string; exp: number } | null>();
const verifyCalls = new PendingCalls<AuthOutcome>();

/** EdDSA costs real CPU: such tokens go to the host's task pool (node/tasks). */
function isAsymmetric(token: string): boolean {
  try {
    return decodeProtectedHeader(token).alg === 'EdDSA';
  } catch {
    return false;
  }
}

async function authenticate(authorization: string, ticket: string): Promise<AuthOutcome> {
  const token = bearerFromHeader(authorization);
  if (token && isAsymmetric(token)) {
    const { id, reply } = verifyCalls.call();
    post({ t: 'verify', id, token });
    return reply;
  }
  if (token) {
    try {
      return { ok: true, identity: await verifier.verify(token) };
    } catch (e) {
      if (e instanceof AuthError) return { ok: false, code: e.code, message: e.message };
      throw e;
    }
  }
  if (ticket) {
    const { id, reply } = redeemCalls.call();
    post({ t: 'redeem', id, ticket });
    const identity = await reply;
    if (identity) return { ok: true, identity };
    return { ok: false, code: 'unauthenticated', message: 'unknown, used or expired ticket' };
  }
  return { ok: false, code: 'unauthenticated', message: 'send Authorization: Bearer <token> or ?ticket=<ticket>' };
}

const listener = new Listener(
  init,
  {
    authenticate,
    opened: (s) => post({ t: 'open', conn: s.conn, user: s.user, device: s.device }),
    closed: (s) => post({ t: 'close', conn: s.conn, user: s.user, device: s.device }),
    forward: (s, id, op, t0) => {
      if (init.fault === 'crash_shard_on_body:' + (op.op === 'send' ? op.body : '')) throw new Error('test fault: shard crash on request');
      if (op.op === 'send' && isDebug()) {
        logger().debug({ evt: 'send.received', trace: traceId(s.user, s.device, op.conversation, op.clientMsgId), conn: s.conn, conversation: op.conversation }, 'send received');
      }
      if (isHotOp(op)) {
        ops.writer.op(s.conn, id, s.user, s.device, t0, op);
        ops.written();
      } else post({ t: 'req', conn: s.conn, reqId: id, user: s.user, device: s.device, op, t0 });
    },
    http: (req) => {
      const { id, reply } = httpCalls.call();
      post({ t: 'http', id, req });
      return reply;
    },
    log,
  },
  metrics,
);

let closing: Promise<void> | null = null;
function closeEverything(code: number): Promise<void> {
  closing ??= listener.closeAll(code);
  return closing;
}

const sup = serveSupervisor({
  onStop: () => closeEverything(CLOSE_CODES.going_away.code),
});

port.on('message', (m: HostToShard | { type?: string }) => {
  if ('type' in m) return; // `$sup:` protocol, handled by serveSupervisor
  const msg = m as HostToShard;
  switch (msg.t) {
    case 'reply':
      listener.reply(msg.conn, msg.reqId, msg.result);
      break;
    case 'replies':
      readReplies(msg.buf, (conn, reqId, result) => listener.reply(conn, reqId, result));
      break;
    case 'push':
      // Replies packed before this push were written first: answered first.
      if (msg.replies) readReplies(msg.replies, (conn, reqId, result) => listener.reply(conn, reqId, result));
      listener.push(msg.items);
      if (isDebug()) {
        for (const it of msg.items) {
          if (it.k === 'deliver') logger().debug({ evt: 'deliver.sent', trace: it.trace, conversation: it.conversation, seq: it.seq, conns: it.conns.length }, 'message written to sockets');
        }
      }
      break;
    case 'log_level':
      setLogLevel(msg.level);
      break;
    case 'http_reply':
      httpCalls.settle(msg.id, msg.res);
      break;
    case 'verified':
      verifyCalls.settle(msg.id, msg.result);
      break;
    case 'redeemed':
      redeemCalls.settle(msg.id, msg.identity);
      break;
    case 'metrics':
      void metrics.registry.getMetricsAsJSON().then((json) => post({ t: 'metrics', id: msg.id, json }));
      break;
    case 'close':
      listener.closeConn(msg.conn, msg.reason);
      break;
    case 'drain':
      listener.drain(msg.reconnectAfterMs, msg.jitterMs);
      post({ t: 'drained' });
      break;
    case 'tls': {
      let error: string | null = null;
      try {
        listener.reloadTls(msg.tls);
      } catch (e) {
        error = e instanceof Error ? e.message : String(e);
      }
      post({ t: 'tls_loaded', gen: msg.gen, error });
      break;
    }
  }
});

process.on('uncaughtException', (e) => {
  log('error', 'shard crashed', { err: e instanceof Error ? e.stack : String(e) });
  // Sockets closed (clients see 4000 and reconnect), then end the thread: safe now,
  // and the supervisor restarts it.
  closeEverything(CLOSE_CODES.server_restart.code).finally(() => process.exit(1));
});

const actualPort = await listener.listen();
post({ t: 'listening', shard: init.shard, port: actualPort });
sup.ready();
