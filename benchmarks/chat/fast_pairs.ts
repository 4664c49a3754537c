/**
 * Sets up the 1:1 chat load on FastWs connections: N pairs of users, each sender and
 * recipient on its own connection; the sender opens the direct conversation, both
 * sync to the end (live pushes start after the first sync). Set-up frames are
 * encoded and decoded with protobuf-es (cost does not matter here); once a pair is
 * ready its connections are handed to the load loop, which reads raw bytes.
 */
import { create, toBinary, fromBinary } from '@bufbuild/protobuf';
import { ClientFrameSchema, ServerFrameSchema, type ServerFrame } from '../../protocol/gen/client_pb.js';
import type { FrameInit } from '../../protocol/client.js';
import { FastWs } from './fast_ws.js';
import { sendTemplate, type SendTemplate } from './chat_frames.js';

export interface FastPair {
  sender: FastWs;
  recipient: FastWs;
  conversation: string;
  send: SendTemplate;
}

export interface FastPairSetup {
  url: string;
  pairs: number;
  /** Distinguishes users between runs and between client processes. */
  tag: string;
  token: (user: string, device: string) => Promise<string>;
  bodyBytes: number;
  localAddress?: string;
  /** Connections opened at once; more only queues handshakes on a 2-core box. */
  concurrency?: number;
}

/** A connection in set-up mode: frames decoded, replies matched by req_id. */
async function setupConn(url: string, token: string, localAddress: string | undefined): Promise<{ ws: FastWs; call: (f: FrameInit) => Promise<ServerFrame> }> {
  const ws = await FastWs.connect({ url, protocol: 'switchboard.v1.proto', headers: { Authorization: `Bearer ${token}` }, localAddress });
  const waiting = new Map<number, (f: ServerFrame) => void>();
  let welcomed: () => void = () => {};
  const welcome = new Promise<void>((r) => (welcomed = r));
  ws.onMessage = (buf, s, e) => {
    const f = fromBinary(ServerFrameSchema, buf.subarray(s, e));
    if (f.kind.case === 'welcome') welcomed();
    const w = f.reqId ? waiting.get(f.reqId) : undefined;
    if (w) {
      waiting.delete(f.reqId);
      w(f);
    }
  };
  let closed: (e: Error) => void = () => {};
  const died = new Promise<never>((_r, rej) => (closed = rej));
  died.catch(() => {});
  ws.onClose = (code) => closed(new Error(`closed with ${code} during set-up`));
  let next = 1;
  const call = (init: FrameInit): Promise<ServerFrame> => {
    const reqId = next++;
    ws.sendBinary(toBinary(ClientFrameSchema, create(ClientFrameSchema, { ...(init as object), reqId } as FrameInit)));
    const reply = new Promise<ServerFrame>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no reply to ${(init as { kind: { case: string } }).kind.case} in 15 s`)), 15_000);
      waiting.set(reqId, (f) => {
        clearTimeout(t);
        resolve(f);
      });
    });
    return Promise.race([reply, died]);
  };
  await Promise.race([welcome, died, new Promise((_r, rej) => setTimeout(() => rej(new Error('no welcome frame in 15 s')), 15_000).unref())]);
  return { ws, call };
}

async function syncAll(call: (f: FrameInit) => Promise<ServerFrame>): Promise<void> {
  const cursors = new Map<string, bigint>();
  for (;;) {
    const f = await call({ kind: { case: 'sync', value: { cursors: [...cursors].map(([conversation, seq]) => ({ conversation, seq })) } } });
    if (f.kind.case !== 'syncPage') throw new Error(`sync answered with ${f.kind.case}`);
    for (const cs of f.kind.value.conversations) cursors.set(cs.conversation, cs.nextCursor);
    if (!f.kind.value.hasMore) return;
  }
}

export async function openFastPairs(o: FastPairSetup): Promise<FastPair[]> {
  const out: FastPair[] = new Array(o.pairs);
  const body = 'x'.repeat(o.bodyBytes);
  let next = 0;
  const one = async (i: number): Promise<void> => {
    const s = `${o.tag}-s${i}`;
    const r = `${o.tag}-r${i}`;
    const [sender, recipient] = await Promise.all([setupConn(o.url, await o.token(s, 'd1'), o.localAddress), setupConn(o.url, await o.token(r, 'd1'), o.localAddress)]);
    const f = await sender.call({ kind: { case: 'openDirect', value: { peer: r } } });
    if (f.kind.case !== 'directOpened') throw new Error(`openDirect answered with ${f.kind.case}`);
    await Promise.all([syncAll(sender.call), syncAll(recipient.call)]);
    const conversation = f.kind.value.conversation;
    out[i] = { sender: sender.ws, recipient: recipient.ws, conversation, send: sendTemplate(conversation, body) };
  };
  const lane = async (): Promise<void> => {
    while (next < o.pairs) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency ?? 32, o.pairs) }, lane));
  return out;
}

export function closeFastPairs(pairs: FastPair[]): void {
  for (const p of pairs) {
    p.sender?.close();
    p.recipient?.close();
  }
}
