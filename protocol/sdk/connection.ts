/**
 * One WebSocket to a node, as the SDK uses it: frames in and out through the
 * protocol codec (JSON or protobuf), requests matched to replies by req_id, and the
 * close code handed up once. Runs on any WebSocket with the browser's API: the
 * global one, or an injected constructor such as the `ws` package's in Node.
 */
import { create } from '@bufbuild/protobuf';
import { ClientFrameSchema, type ClientFrame, type ServerFrame } from '../gen/client_pb.js';
import { decodeServerFrame, encodeClientFrame, type Encoding } from '../codec.js';
import type { Clock } from './clock.js';

/** The part of the WHATWG WebSocket the SDK needs. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

/** `new WebSocket(url, protocols)`; Node's `ws` also takes `{headers}` third. */
export type WebSocketCtor = new (url: string, protocols: string[], options?: { headers?: Record<string, string> }) => WebSocketLike;

export type FrameInit = Parameters<typeof create<typeof ClientFrameSchema>>[1];

export class RequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable = false,
    readonly retryAfterMs = 0,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

const OPEN = 1;

export class Connection {
  private nextReq = 1;
  private pending = new Map<number, { resolve: (f: ServerFrame) => void; reject: (e: Error) => void; timer: unknown }>();
  closed = false;
  /** Local time of the last frame received. */
  lastFrameAt: number;

  constructor(
    readonly ws: WebSocketLike,
    readonly encoding: Encoding,
    private readonly clock: Clock,
    private readonly onFrame: (f: ServerFrame) => void,
    private readonly onClose: (code: number, reason: string) => void,
  ) {
    this.lastFrameAt = clock.now();
    ws.binaryType = 'arraybuffer';
    ws.onmessage = (ev) => {
      this.lastFrameAt = this.clock.now();
      let f: ServerFrame;
      try {
        const d = ev.data;
        f = decodeServerFrame(typeof d === 'string' ? d : new Uint8Array(d as ArrayBuffer), encoding);
      } catch {
        return; // a frame this SDK cannot read is not one it can act on
      }
      const p = f.reqId ? this.pending.get(f.reqId) : undefined;
      if (p) {
        this.pending.delete(f.reqId);
        this.clock.clearTimeout(p.timer);
        if (f.kind.case === 'error') p.reject(new RequestError(f.kind.value.code, f.kind.value.message, f.kind.value.retryable, f.kind.value.retryAfterMs));
        else p.resolve(f);
        return;
      }
      this.onFrame(f);
    };
    ws.onclose = (ev) => this.finish(ev.code, ev.reason);
    ws.onerror = () => {
      /* a close event follows */
    };
  }

  get open(): boolean {
    return !this.closed && this.ws.readyState === OPEN;
  }

  /** Send without waiting; returns the req_id (replies go to onFrame). */
  send(init: FrameInit): number {
    const reqId = this.nextReq++;
    const frame: ClientFrame = create(ClientFrameSchema, { ...(init as object), reqId } as FrameInit);
    if (this.open) this.ws.send(encodeClientFrame(frame, this.encoding));
    return reqId;
  }

  /** Send and wait for the reply with the same req_id; an error frame rejects with RequestError. */
  request(init: FrameInit, timeoutMs: number): Promise<ServerFrame> {
    if (!this.open) return Promise.reject(new RequestError('unavailable', 'not connected', true));
    return new Promise((resolve, reject) => {
      const reqId = this.send(init);
      const timer = this.clock.setTimeout(() => {
        this.pending.delete(reqId);
        reject(new RequestError('timeout', `no reply within ${timeoutMs} ms`, true));
      }, timeoutMs);
      this.pending.set(reqId, { resolve, reject, timer });
    });
  }

  /**
   * Close from this side. The socket is closed with 1000 (browsers accept no other
   * code below 3000); `asCode` is what the SDK treats the close as (1000 when the app
   * stopped, 1006 when the SDK gave up on a silent socket), reported at once instead of
   * after the close handshake.
   */
  close(asCode = 1000, reason = ''): void {
    try {
      // A close reason over 123 bytes makes browsers throw instead of closing: 30 code
      // points are at most 120 bytes of UTF-8.
      this.ws.close(1000, [...reason].slice(0, 30).join(''));
    } catch {
      /* already closing */
    }
    this.finish(asCode, reason);
  }

  private finish(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const [, p] of this.pending) {
      this.clock.clearTimeout(p.timer);
      p.reject(new RequestError('unavailable', 'connection closed', true));
    }
    this.pending.clear();
    this.ws.onmessage = null;
    this.onClose(code, reason);
  }
}
