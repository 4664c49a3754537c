/**
 * A small reference client over the `ws` package, speaking either encoding. Tests
 * and the load generator use it; it is also a worked example for client authors.
 * It keeps every frame it receives (`frames`) and lets callers wait for one.
 */
import WebSocket from 'ws';
import { create } from '@bufbuild/protobuf';
import { ClientFrameSchema, type ClientFrame, type ServerFrame } from './gen/client_pb.js';
import { decodeServerFrame, encodeClientFrame, type Encoding } from './codec.js';

export type FrameInit = Parameters<typeof create<typeof ClientFrameSchema>>[1];

export interface ConnectOptions {
  url: string;
  token?: string;
  encoding?: Encoding;
  /** Offer this raw Sec-WebSocket-Protocol instead of the encoding's name. */
  subprotocol?: string | null;
  ca?: string | Buffer;
  rejectUnauthorized?: boolean;
  localAddress?: string;
  timeoutMs?: number;
}

export class TestClient {
  readonly frames: ServerFrame[] = [];
  closeCode: number | null = null;
  closeReason = '';
  private waiters: Array<{ pred: (f: ServerFrame) => boolean; resolve: (f: ServerFrame) => void }> = [];
  private closeWaiters: Array<(code: number) => void> = [];
  private nextReq = 1;

  private constructor(
    readonly ws: WebSocket,
    readonly encoding: Encoding,
  ) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const f = decodeServerFrame(isBinary ? new Uint8Array(data) : data.toString('utf8'), encoding);
      this.frames.push(f);
      this.onFrame?.(f);
      this.waiters = this.waiters.filter((w) => {
        if (w.pred(f)) {
          w.resolve(f);
          return false;
        }
        return true;
      });
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
      for (const w of this.closeWaiters) w(code);
      this.closeWaiters = [];
    });
    ws.on('error', () => {
      /* surfaced through close */
    });
  }

  onFrame?: (f: ServerFrame) => void;

  static connect(o: ConnectOptions): Promise<TestClient> {
    const encoding = o.encoding ?? 'json';
    const proto = o.subprotocol === undefined ? `switchboard.v1.${encoding}` : o.subprotocol;
    const ws = new WebSocket(o.url, proto ? [proto] : [], {
      headers: o.token ? { authorization: `Bearer ${o.token}` } : {},
      ca: o.ca,
      rejectUnauthorized: o.rejectUnauthorized ?? true,
      localAddress: o.localAddress,
      handshakeTimeout: o.timeoutMs ?? 10_000,
      perMessageDeflate: false,
    });
    const c = new TestClient(ws, encoding);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(c));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  /** Send a frame; returns its req_id. */
  send(init: FrameInit): number {
    const reqId = (init as { reqId?: number }).reqId ?? this.nextReq++;
    const frame: ClientFrame = create(ClientFrameSchema, { ...(init as object), reqId } as FrameInit);
    this.ws.send(encodeClientFrame(frame, this.encoding), { binary: this.encoding === 'proto' });
    return reqId;
  }

  sendRaw(data: string | Buffer, binary: boolean): void {
    this.ws.send(data, { binary });
  }

  /** Resolve with the first frame (already received or future) that matches. */
  waitFor(pred: (f: ServerFrame) => boolean, timeoutMs = 10_000, fromIndex = 0): Promise<ServerFrame> {
    for (let i = fromIndex; i < this.frames.length; i++) if (pred(this.frames[i])) return Promise.resolve(this.frames[i]);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for a frame; have ${this.frames.length} frames: ${this.frames.slice(-5).map((f) => f.kind.case).join(',')}`));
      }, timeoutMs);
      const done = (f: ServerFrame): void => {
        clearTimeout(t);
        resolve(f);
      };
      this.waiters.push({ pred, resolve: done });
    });
  }

  /** Wait for the reply to req_id (whatever its kind). */
  reply(reqId: number, timeoutMs = 10_000): Promise<ServerFrame> {
    return this.waitFor((f) => f.reqId === reqId, timeoutMs);
  }

  /** Send and wait for the reply. */
  async call(init: FrameInit, timeoutMs = 10_000): Promise<ServerFrame> {
    const from = this.frames.length;
    const id = this.send(init);
    return this.waitFor((f) => f.reqId === id, timeoutMs, from);
  }

  waitClose(timeoutMs = 10_000): Promise<number> {
    if (this.closeCode !== null) return Promise.resolve(this.closeCode);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timed out waiting for close')), timeoutMs);
      this.closeWaiters.push((c) => {
        clearTimeout(t);
        resolve(c);
      });
    });
  }

  close(): void {
    this.ws.close();
  }

  terminate(): void {
    this.ws.terminate();
  }
}
