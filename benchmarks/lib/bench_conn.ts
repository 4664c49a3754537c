/**
 * A lean client connection for load generation. Unlike protocol/client.ts's TestClient
 * it keeps no frame log (a soak holds 19k of these per process and a chat run sees
 * millions of frames), and hands each decoded frame to one callback.
 */
import WebSocket from 'ws';
import { create, toBinary, fromBinary } from '@bufbuild/protobuf';
import { ClientFrameSchema, ServerFrameSchema, type ServerFrame } from '../../protocol/gen/client_pb.js';
import type { FrameInit } from '../../protocol/client.js';

export interface BenchConnOptions {
  url: string;
  token: string;
  localAddress?: string;
  timeoutMs?: number;
  /** PEM CA to trust for wss:// (the bench's self-signed certificate). */
  ca?: string;
}

export class BenchConn {
  closeCode: number | null = null;
  onFrame: (f: ServerFrame) => void = () => {};
  onClose: (code: number) => void = () => {};
  private calls = new Map<number, (f: ServerFrame) => void>();
  private nextReq = 1;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const f = fromBinary(ServerFrameSchema, data);
      if (f.reqId !== 0) {
        const done = this.calls.get(f.reqId);
        if (done) {
          this.calls.delete(f.reqId);
          done(f);
          return;
        }
      }
      this.onFrame(f);
    });
    ws.on('close', (code: number) => {
      this.closeCode = code;
      this.onClose(code);
    });
    ws.on('error', () => {
      /* surfaced through close */
    });
  }

  /** Connect with the binary encoding and wait for the welcome frame. */
  static connect(o: BenchConnOptions): Promise<BenchConn> {
    const ws = new WebSocket(o.url, ['switchboard.v1.proto'], {
      headers: { authorization: `Bearer ${o.token}` },
      localAddress: o.localAddress,
      handshakeTimeout: o.timeoutMs ?? 15_000,
      perMessageDeflate: false,
      ...(o.ca ? { ca: o.ca } : {}),
    });
    const c = new BenchConn(ws);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        ws.terminate();
        reject(new Error('no welcome frame in time'));
      }, o.timeoutMs ?? 15_000);
      c.onFrame = (f) => {
        if (f.kind.case === 'welcome') {
          clearTimeout(t);
          c.onFrame = () => {};
          resolve(c);
        }
      };
      ws.once('unexpected-response', (_req, res) => {
        clearTimeout(t);
        reject(new Error(`upgrade refused: HTTP ${res.statusCode}`));
      });
      ws.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
      ws.once('close', (code) => {
        clearTimeout(t);
        reject(new Error(`closed with ${code} before welcome`));
      });
    });
  }

  /** Send a frame without waiting; returns its req_id. */
  send(init: FrameInit): number {
    const reqId = this.nextReq++;
    if (this.nextReq > 0xffff_fff0) this.nextReq = 1;
    this.ws.send(toBinary(ClientFrameSchema, create(ClientFrameSchema, { ...(init as object), reqId } as FrameInit)), { binary: true });
    return reqId;
  }

  /** Send and wait for the frame that echoes its req_id. */
  call(init: FrameInit, timeoutMs = 15_000): Promise<ServerFrame> {
    const id = this.send(init);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.calls.delete(id);
        reject(new Error(`no reply to ${(init as { kind: { case: string } }).kind.case} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.calls.set(id, (f) => {
        clearTimeout(t);
        resolve(f);
      });
    });
  }

  /** Sync until has_more is false: live pushes start only after that. */
  async syncAll(): Promise<void> {
    const cursors = new Map<string, bigint>();
    for (;;) {
      const f = await this.call({ kind: { case: 'sync', value: { cursors: [...cursors].map(([conversation, seq]) => ({ conversation, seq })) } } });
      if (f.kind.case !== 'syncPage') throw new Error(`sync answered with ${f.kind.case}`);
      for (const cs of f.kind.value.conversations) cursors.set(cs.conversation, cs.nextCursor);
      if (!f.kind.value.hasMore) return;
    }
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  close(): void {
    this.ws.close();
  }

  terminate(): void {
    this.ws.terminate();
  }
}
