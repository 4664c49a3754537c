/**
 * A scripted server for the SDK's unit tests: a WebSocket constructor whose sockets
 * the test drives by hand (open, push frames, close with a code) and whose outbound
 * frames it reads decoded. No network; time comes from a FakeClock.
 */
import { create } from '@bufbuild/protobuf';
import { ServerFrameSchema, type ClientFrame } from '../gen/client_pb.js';
import { decodeClientFrame, encodeServerFrame } from '../codec.js';
import type { WebSocketCtor, WebSocketLike } from './connection.js';

export type ServerInit = Parameters<typeof create<typeof ServerFrameSchema>>[1];

export class FakeSocket implements WebSocketLike {
  binaryType = '';
  readyState = 0;
  readonly sent: ClientFrame[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;

  constructor(
    readonly url: string,
    readonly protocols: string[],
    readonly headers: Record<string, string> | undefined,
  ) {}

  send(data: string | Uint8Array): void {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    this.sent.push(decodeClientFrame(bytes, false, 'json'));
  }

  close(): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code: 1000, reason: '' });
  }

  // ---- the server's side

  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  push(init: ServerInit): void {
    this.onmessage?.({ data: encodeServerFrame(create(ServerFrameSchema, init), 'json') });
  }

  drop(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  /** Frames of one kind the client sent, in order. */
  of<K extends NonNullable<ClientFrame['kind']['case']>>(kind: K): Array<Extract<ClientFrame['kind'], { case: K }>['value'] & { reqId: number }> {
    return this.sent.filter((f) => f.kind.case === kind).map((f) => ({ ...(f.kind.value as object), reqId: f.reqId }) as never);
  }
}

export class FakeServer {
  readonly sockets: FakeSocket[] = [];
  readonly ctor: WebSocketCtor;

  constructor() {
    const sockets = this.sockets;
    this.ctor = class extends FakeSocket {
      constructor(url: string, protocols: string[], opts?: { headers?: Record<string, string> }) {
        super(url, protocols, opts?.headers);
        sockets.push(this);
      }
    };
  }

  get last(): FakeSocket {
    return this.sockets[this.sockets.length - 1];
  }
}
