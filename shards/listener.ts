/**
 * The uWebSockets.js shell of a socket shard: accepts WS/WSS upgrades (auth at the
 * upgrade), feeds frames to the pure session (session.ts), answers the host's replies,
 * runs the heartbeat sweep, reloads TLS and drains. What goes out to sockets (frames,
 * closes, the host's pushes) is socket_output.ts; HTTP routes are forwarded to the host
 * by http_route.ts. Everything here is I/O; decisions live in session.ts.
 */
import uWS from 'uWebSockets.js';
import { create } from '@bufbuild/protobuf';
import { ServerFrameSchema } from '../protocol/gen/client_pb.js';
import { decodeClientFrame, negotiate } from '../protocol/codec.js';
import { clientFrameFromBytes } from '../protocol/compiled/client_frames.js';
import { CatalogError } from '../protocol/errors.js';
import { CLOSE_CODES, type CloseReason } from '../protocol/codes.js';
import { errorFrame } from './frames.js';
import type { HttpRequest, HttpResponse, PushItem, ShardInit } from './messages.js';
import type { ShardMetrics } from './metrics.js';
import { expiry, newSession, onClientFrame, onResult, touch, type Session } from './session.js';
import { SocketOutput, type PreAuth, type UserData, type WS } from './socket_output.js';
import { httpRoute } from './http_route.js';
import type { CoreOp, CoreResult } from '../node/core/ops.js';

export interface Identity {
  user: string;
  device: string;
  /** seconds since epoch; 0 = none */
  exp: number;
}

export type AuthOutcome = { ok: true; identity: Identity } | { ok: false; code: 'unauthenticated' | 'token_expired'; message: string };

/** What the listener needs from the rest of the shard (narrow on purpose). */
export interface ShardPorts {
  authenticate(authorization: string, ticket: string): Promise<AuthOutcome>;
  opened(s: Session): void;
  closed(s: Session): void;
  forward(s: Session, id: number, op: CoreOp, t0: number): void;
  http(req: HttpRequest): Promise<HttpResponse>;
  log(level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void;
}

/**
 * Oversize frames, by size over max_frame_bytes:
 *   up to 4x  an error frame (frame_too_large); the socket survives
 *   up to 8x  closed with 1009
 *   beyond    uWS drops the socket without reading further (no close frame): it is
 *             the only way to bound what a socket may make us buffer.
 */
const SURVIVABLE_FACTOR = 4;
const HARD_CAP_FACTOR = 8;
/** After this many undecodable frames in a row the client is broken: close it. */
const MAX_BAD_FRAMES = 20;
/** How long close frames get to leave before the app is force-closed. */
const CLOSE_GRACE_MS = 50;
/** Frames a client may send before its welcome; more are dropped. */
const MAX_EARLY_FRAMES = 16;
/**
 * The early-frame list of every socket that has none (nearly all): replaced by its own
 * array at the first early frame, so an idle socket carries no empty array of its own.
 */
const NO_EARLY: PreAuth['early'] = [];

export class Listener {
  private app: uWS.TemplatedApp;
  private listenSocket: uWS.us_listen_socket | null = null;
  /** The port actually bound (a TLS reload listens again on it). */
  private port = 0;
  /**
   * Apps replaced by a TLS reload: their listen socket is closed, their accepted sockets
   * still live on them (uWS cannot move a socket between apps), so they are kept until
   * closeAll. One small SSL context per reload.
   */
  private readonly retired: uWS.TemplatedApp[] = [];
  private readonly sockets = new Map<number, WS>();
  private readonly badFrames = new WeakMap<WS, number>();
  private nextConn = 1;
  private sweepTimer: NodeJS.Timeout | null = null;
  private draining = false;
  private readonly sendStarted = new Map<string, number>();
  private readonly out: SocketOutput;

  constructor(
    private readonly init: ShardInit,
    private readonly ports: ShardPorts,
    private readonly metrics: ShardMetrics,
  ) {
    const tls = init.tls;
    this.app = tls ? sslApp(tls) : uWS.App();
    this.out = new SocketOutput(this.sockets, init.limits, metrics, (level, msg, fields) => ports.log(level, msg, fields));
    this.routes(this.app);
  }

  get connections(): number {
    return this.sockets.size;
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.app.listen(this.init.host, this.init.port, (ls) => {
        if (!ls) return reject(new Error(`cannot listen on ${this.init.host}:${this.init.port}`));
        this.listenSocket = ls;
        this.port = uWS.us_socket_local_port(ls as unknown as uWS.us_socket);
        this.sweepTimer = setInterval(() => this.sweep(), this.init.limits.heartbeatMs);
        this.sweepTimer.unref();
        resolve(this.port);
      });
    });
  }

  /**
   * New connections get this certificate; open ones stay. uWS cannot change the
   * certificate of a listening SSLApp (SNI contexts would miss clients that send no
   * server name, e.g. any client dialing an IP), so: a fresh SSLApp with the same
   * routes listens on the same port (SO_REUSEPORT, as every shard already does), and
   * only then is the old app's listen socket closed. us_listen_socket_close leaves the
   * old app's accepted sockets open and served; they end as clients leave (or at
   * closeAll). Throws, leaving everything as it was, if the new app cannot be built or
   * cannot listen. A draining shard accepts nothing and has nothing to switch.
   */
  reloadTls(tls: { certFile: string; keyFile: string; passphrase: string }): void {
    if (!this.init.tls) throw new Error('this listener serves no TLS');
    if (this.draining || !this.listenSocket) return;
    const app = sslApp(tls); // throws "App construction failed" on a pair OpenSSL refuses
    this.routes(app);
    let ls: uWS.us_listen_socket | false = false;
    app.listen(this.init.host, this.port, (s) => {
      ls = s;
    });
    if (!ls) {
      app.close();
      throw new Error(`cannot listen again on ${this.init.host}:${this.port}`);
    }
    // New listener first, then the old one closes: no moment without one. A connection
    // the kernel queued on the old listen socket but uWS had not accepted yet is reset
    // by that close (SO_REUSEPORT) unless net.ipv4.tcp_migrate_req=1 moves it to another
    // listener of the port (docs/HOST_TUNING.md §2: 26 resets in ~2,900 connections over
    // 30 reloads with 0, none with 1).
    uWS.us_listen_socket_close(this.listenSocket);
    this.listenSocket = ls;
    this.retired.push(this.app);
    this.app = app;
  }

  private routes(app: uWS.TemplatedApp): void {
    const limits = this.init.limits;
    app.ws<UserData>('/v1/ws', {
      maxPayloadLength: limits.maxFrameBytes * HARD_CAP_FACTOR,
      idleTimeout: 0, // our own sweep closes idle sockets with a documented code
      sendPingsAutomatically: false,
      maxBackpressure: limits.maxBackpressureBytes,
      closeOnBackpressureLimit: 0,
      upgrade: (res, req, context) => this.upgrade(res, req, context),
      open: (ws) => this.open(ws),
      message: (ws, data, isBinary) => this.message(ws, data, isBinary),
      // Any inbound frame keeps a socket alive (PROTOCOL.md §7): the client's own
      // WebSocket pings too (uWS answers them with a pong by itself).
      ping: (ws) => {
        const s = ws.getUserData().session;
        if (s) touch(s, Date.now());
      },
      pong: (ws) => {
        const s = ws.getUserData().session;
        if (s) touch(s, Date.now());
      },
      close: (ws) => {
        const ud = ws.getUserData();
        // Marks the socket dead for an authentication still in flight (open()): any call
        // on a closed uWS socket throws, and there that throw crashed the shard.
        ud.closed = true;
        const s = ud.session;
        if (s && this.sockets.get(s.conn) === ws) {
          this.sockets.delete(s.conn);
          this.metrics.connections.set(this.sockets.size);
          this.ports.closed(s);
        }
      },
    });
    app.any('/*', (res, req) => httpRoute(res, req, this.init.limits.maxFrameBytes, (r) => this.ports.http(r)));
  }

  /**
   * The upgrade completes synchronously and authentication runs after it: uWS (this
   * build, in a worker thread) drops sockets upgraded from a later macrotask, and a
   * browser cannot read the status of a refused upgrade anyway. Until the token is
   * verified the socket gets nothing but its welcome or its close code.
   */
  private upgrade(res: uWS.HttpResponse, req: uWS.HttpRequest, context: uWS.us_socket_context_t): void {
    const key = req.getHeader('sec-websocket-key');
    const protoHeader = req.getHeader('sec-websocket-protocol');
    const ext = req.getHeader('sec-websocket-extensions');
    const authorization = req.getHeader('authorization');
    const ticket = new URLSearchParams(req.getQuery() ?? '').get('ticket') ?? '';
    if (this.draining) {
      res.writeStatus('503 Service Unavailable').end('draining');
      return;
    }
    const neg = negotiate(protoHeader);
    if (!neg) {
      res.writeStatus('400 Bad Request').end('Sec-WebSocket-Protocol: offer switchboard.v1.proto or switchboard.v1.json');
      return;
    }
    const ud: UserData = { session: null, pre: { encoding: neg.encoding, authorization, ticket, early: NO_EARLY }, closed: false };
    res.upgrade(ud, key, neg.subprotocol, ext, context);
  }

  private open(ws: WS): void {
    const ud = ws.getUserData();
    const pre = ud.pre!;
    const { authorization, ticket } = pre;
    pre.authorization = '';
    pre.ticket = '';
    this.ports.authenticate(authorization, ticket).then(
      (outcome) => this.authenticated(ws, ud, outcome),
      (e) => {
        this.ports.log('error', 'authentication failed unexpectedly', { err: String(e) });
        if (!ud.closed) this.out.end(ws, CLOSE_CODES.server_restart.code, 'internal error');
      },
    );
  }

  /**
   * The client may have gone (a TCP close, or a frame uWS refused) while its token was
   * being verified: then `ud.closed` is set and the socket must not be touched. Nothing
   * was registered for it yet, so there is nothing to undo.
   */
  private authenticated(ws: WS, ud: UserData, outcome: AuthOutcome): void {
    if (ud.closed) return;
    const pre = ud.pre!;
    if (!outcome.ok) {
      this.out.sendFrame(ws, pre.encoding, errorFrame(0, outcome.code, outcome.message));
      this.out.end(ws, CLOSE_CODES[outcome.code].code, outcome.code);
      return;
    }
    const now = Date.now();
    const s = newSession(this.nextConn++, outcome.identity.user, outcome.identity.device, pre.encoding, (outcome.identity.exp + this.init.auth.clockToleranceSec) * 1000, this.init.limits, now);
    ud.session = s;
    ud.pre = null;
    this.sockets.set(s.conn, ws);
    this.metrics.connections.set(this.sockets.size);
    this.ports.opened(s);
    const l = this.init.limits;
    ws.cork(() => {
      this.out.sendFrame(
        ws,
        s.encoding,
        create(ServerFrameSchema, {
          kind: {
            case: 'welcome',
            value: {
              user: s.user,
              device: s.device,
              node: this.init.nodeId,
              serverTs: BigInt(now),
              maxFrameBytes: l.maxFrameBytes,
              heartbeatMs: l.heartbeatMs,
              idleTimeoutMs: l.idleTimeoutMs,
              maxSyncPage: l.maxSyncPage,
              shard: this.init.shard,
            },
          },
        }),
      );
      const early = pre.early;
      pre.early = NO_EARLY;
      for (const f of early) this.message(ws, f.data, f.isBinary);
    });
  }

  private message(ws: WS, data: ArrayBuffer, isBinary: boolean): void {
    const ud = ws.getUserData();
    const s = ud.session;
    if (!s) {
      // Not authenticated yet: keep a few frames (copied: uWS reuses the buffer).
      const pre = ud.pre;
      if (pre && pre.early.length < MAX_EARLY_FRAMES && data.byteLength <= this.init.limits.maxFrameBytes) {
        if (pre.early === NO_EARLY) pre.early = [];
        pre.early.push({ data: data.slice(0), isBinary });
      }
      return;
    }
    this.metrics.framesIn.inc();
    const now = Date.now();
    if (data.byteLength > this.init.limits.maxFrameBytes * SURVIVABLE_FACTOR) {
      this.out.end(ws, CLOSE_CODES.too_large.code, 'frame too large');
      return;
    }
    if (data.byteLength > this.init.limits.maxFrameBytes) {
      touch(s, now);
      this.out.sendFrame(ws, s.encoding, errorFrame(0, 'frame_too_large', `frame of ${data.byteLength} bytes; max_frame_bytes is ${this.init.limits.maxFrameBytes}`));
      return;
    }
    let frame;
    try {
      frame = decodeClientFrame(data, isBinary, s.encoding, clientFrameFromBytes);
    } catch (e) {
      touch(s, now);
      if (!(e instanceof CatalogError)) throw e;
      this.out.sendFrame(ws, s.encoding, errorFrame(e.reqId, e.code, e.message));
      const n = (this.badFrames.get(ws) ?? 0) + 1;
      this.badFrames.set(ws, n);
      if (n >= MAX_BAD_FRAMES) this.out.end(ws, CLOSE_CODES.protocol_violation.code, 'too many bad frames');
      return;
    }
    this.badFrames.delete(ws);
    const eff = onClientFrame(s, frame, this.init.limits, now);
    if (eff.kind === 'reply') this.out.sendFrame(ws, s.encoding, eff.frame);
    else if (eff.kind === 'forward') {
      if (eff.op.op === 'send') this.sendStarted.set(`${s.conn}:${eff.id}`, performance.now());
      this.ports.forward(s, eff.id, eff.op, now);
    }
  }

  // ------------------------------------------------------------------ from the host

  reply(conn: number, id: number, result: CoreResult): void {
    const ws = this.sockets.get(conn);
    if (!ws) return;
    const s = ws.getUserData().session!;
    const key = `${conn}:${id}`;
    const started = this.sendStarted.get(key);
    if (started !== undefined) {
      this.sendStarted.delete(key);
      if (result.r === 'send_ack') this.metrics.sendAck.observe((performance.now() - started) / 1000);
    }
    const frame = onResult(s, id, result);
    if (frame) this.out.sendFrame(ws, s.encoding, frame);
  }

  /** Pushes batched by the host (messages.ts PushItem). */
  push(items: PushItem[]): void {
    this.out.push(items);
  }

  // ------------------------------------------------------------------ output

  /** Close one connection with a catalogued close code (asked by the host). */
  closeConn(conn: number, reason: CloseReason): void {
    const ws = this.sockets.get(conn);
    if (ws) this.out.end(ws, CLOSE_CODES[reason].code, reason);
  }

  private sweep(): void {
    const now = Date.now();
    for (const ws of this.sockets.values()) {
      const s = ws.getUserData().session!;
      const why = expiry(s, this.init.limits, now);
      if (why === 'idle') this.out.end(ws, CLOSE_CODES.idle_timeout.code, 'idle timeout');
      else if (why === 'token') {
        this.out.sendFrame(ws, s.encoding, errorFrame(0, 'token_expired', 'the token expired'));
        this.out.end(ws, CLOSE_CODES.token_expired.code, 'token expired');
      } else ws.ping();
    }
  }

  // ------------------------------------------------------------------ shutdown

  /** Stop accepting; tell every client to reconnect elsewhere after a jittered delay. */
  drain(reconnectAfterMs: number, jitterMs: number): void {
    this.draining = true;
    if (this.listenSocket) uWS.us_listen_socket_close(this.listenSocket);
    this.listenSocket = null;
    for (const ws of this.sockets.values()) {
      const s = ws.getUserData().session!;
      const after = reconnectAfterMs + Math.floor(Math.random() * (jitterMs + 1));
      this.out.sendFrame(ws, s.encoding, create(ServerFrameSchema, { kind: { case: 'goaway', value: { reconnectAfterMs: after, reason: 'node draining' } } }));
      this.out.end(ws, CLOSE_CODES.going_away.code, 'draining');
    }
  }

  /**
   * Close everything this thread holds so the thread can end without taking the
   * process down (uWS aborts the process if a thread exits holding sockets).
   */
  async closeAll(code: number = CLOSE_CODES.server_restart.code): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.listenSocket) uWS.us_listen_socket_close(this.listenSocket);
    this.listenSocket = null;
    for (const ws of [...this.sockets.values()]) {
      try {
        this.out.end(ws, code, 'shard stopping');
      } catch {
        /* already closed */
      }
    }
    this.sockets.clear();
    // Close frames written outside a uWS callback leave on the next loop iteration;
    // give them a moment before app.close() force-closes whatever is left.
    await new Promise((r) => setTimeout(r, CLOSE_GRACE_MS));
    for (const app of this.retired) app.close();
    this.retired.length = 0;
    this.app.close();
  }
}

function sslApp(tls: { certFile: string; keyFile: string; passphrase: string }): uWS.TemplatedApp {
  return uWS.SSLApp({ cert_file_name: tls.certFile, key_file_name: tls.keyFile, passphrase: tls.passphrase });
}
