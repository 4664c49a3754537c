/**
 * A minimal WebSocket client over net.Socket for the load generator, where `ws` plus
 * protobuf-es cost the client more CPU per message than the node spends on it. What
 * it saves: frames are written as prepared bytes (mask key 0, so the masked payload is
 * the payload: RFC 6455 lets the server accept any key), several frames for one socket
 * go out in one write, and received frames are handed over as byte views without a
 * copy or a decode. It does what a bench client needs and no more: binary frames,
 * answering pings, close; no fragmentation (the node never fragments), no extensions.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';

export interface FastWsOptions {
  /** ws://host:port/path (loopback benches only: no TLS). */
  url: string;
  protocol: string;
  headers?: Record<string, string>;
  localAddress?: string;
  timeoutMs?: number;
}

const EMPTY = Buffer.alloc(0);
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/** A client frame header with a zero mask key, for a payload of `len` bytes. */
export function frameHeader(len: number, opcode = OP_BINARY): Buffer {
  if (len < 126) return Buffer.from([0x80 | opcode, 0x80 | len, 0, 0, 0, 0]);
  if (len < 65536) return Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff, 0, 0, 0, 0]);
  const h = Buffer.alloc(14);
  h[0] = 0x80 | opcode;
  h[1] = 0x80 | 127;
  h.writeBigUInt64BE(BigInt(len), 2);
  return h;
}

/** A whole client frame (header + payload) as one buffer. */
export function clientFrame(payload: Uint8Array, opcode = OP_BINARY): Buffer {
  return Buffer.concat([frameHeader(payload.length, opcode), payload]);
}

export class FastWs {
  closeCode: number | null = null;
  /** A binary message: `buf[start, end)` is the payload (valid only during the call). */
  onMessage: (buf: Buffer, start: number, end: number) => void = () => {};
  onClose: (code: number) => void = () => {};
  private rest: Buffer | null = null;

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
  }

  static connect(o: FastWsOptions): Promise<FastWs> {
    const u = new URL(o.url);
    if (u.protocol !== 'ws:') throw new Error('FastWs speaks ws:// only');
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: u.hostname, port: Number(u.port), localAddress: o.localAddress });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('upgrade timed out'));
      }, o.timeoutMs ?? 15_000);
      let head = Buffer.alloc(0);
      const fail = (e: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(e);
      };
      socket.once('error', fail);
      socket.once('connect', () => {
        const lines = [
          `GET ${u.pathname}${u.search} HTTP/1.1`,
          `Host: ${u.host}`,
          'Upgrade: websocket',
          'Connection: Upgrade',
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
          'Sec-WebSocket-Version: 13',
          `Sec-WebSocket-Protocol: ${o.protocol}`,
          ...Object.entries(o.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
        ];
        socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      });
      const onHead = (d: Buffer): void => {
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onHead);
        const status = head.subarray(0, head.indexOf('\r\n')).toString();
        if (!/^HTTP\/1\.1 101/.test(status)) return fail(new Error(`upgrade refused: ${status}`));
        clearTimeout(timer);
        socket.off('error', fail);
        const c = new FastWs(socket);
        socket.on('data', (chunk: Buffer) => c.onData(chunk));
        socket.on('error', () => {
          /* surfaced through close */
        });
        socket.on('close', () => {
          c.closeCode ??= 1006;
          c.onClose(c.closeCode);
        });
        // Frames that came with the 101 (the welcome, often) wait for the caller to set
        // onMessage, which it does after the promise resolves; later chunks queue behind them.
        const extra = head.subarray(end + 4);
        if (extra.length) {
          c.rest = Buffer.from(extra);
          setImmediate(() => c.onData(EMPTY));
        }
        resolve(c);
      };
      socket.on('data', onHead);
    });
  }

  get open(): boolean {
    return this.closeCode === null && !this.socket.destroyed;
  }

  /** Write prepared frame bytes (one or several whole frames). */
  writeRaw(frames: Uint8Array): void {
    this.socket.write(frames);
  }

  sendBinary(payload: Uint8Array): void {
    this.socket.write(clientFrame(payload));
  }

  close(code = 1000): void {
    if (!this.open) return;
    const p = Buffer.alloc(2);
    p.writeUInt16BE(code);
    this.socket.end(clientFrame(p, OP_CLOSE));
  }

  private onData(chunk: Buffer): void {
    let buf = chunk;
    if (this.rest) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = null;
    }
    let i = 0;
    const n = buf.length;
    while (n - i >= 2) {
      const op = buf[i] & 0x0f;
      let len = buf[i + 1] & 0x7f;
      let at = i + 2;
      if (len === 126) {
        if (n - i < 4) break;
        len = buf.readUInt16BE(i + 2);
        at = i + 4;
      } else if (len === 127) {
        if (n - i < 10) break;
        len = Number(buf.readBigUInt64BE(i + 2));
        at = i + 10;
      }
      if (n - at < len) break;
      const end = at + len;
      if (op === OP_BINARY) this.onMessage(buf, at, end);
      else if (op === OP_PING) this.socket.write(clientFrame(buf.subarray(at, end), OP_PONG));
      else if (op === OP_CLOSE) {
        this.closeCode = len >= 2 ? buf.readUInt16BE(at) : 1005;
        this.socket.end();
      }
      i = end;
    }
    if (i < n) this.rest = Buffer.from(buf.subarray(i));
  }
}
