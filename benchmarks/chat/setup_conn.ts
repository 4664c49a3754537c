/**
 * Set-up of a prepared-frame connection (FastWs) for the benches that write raw frames
 * (chat/fast_pairs.ts, chat/fan_receivers.ts): connect, wait for the welcome, answer
 * requests by req_id, sync to the end (live pushes start only after the first complete
 * sync). Frames here are encoded and decoded with protobuf-es: set-up cost does not
 * matter; the load loops read raw bytes afterwards.
 */
import { create, toBinary, fromBinary } from '@bufbuild/protobuf';
import { ClientFrameSchema, ServerFrameSchema, type ServerFrame } from '../../protocol/gen/client_pb.js';
import type { FrameInit } from '../../protocol/client.js';
import { FastWs } from './fast_ws.js';

export interface SetupConn {
  ws: FastWs;
  /** A request answered by req_id, decoded (set-up only). */
  call: (f: FrameInit) => Promise<ServerFrame>;
}

/** A connection in set-up mode: frames decoded, replies matched by req_id. */
export async function setupConn(url: string, token: string, localAddress?: string): Promise<SetupConn> {
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

/** Sync until has_more is false: the node pushes live messages only after that. */
export async function syncAll(call: SetupConn['call']): Promise<void> {
  const cursors = new Map<string, bigint>();
  for (;;) {
    const f = await call({ kind: { case: 'sync', value: { cursors: [...cursors].map(([conversation, seq]) => ({ conversation, seq })) } } });
    if (f.kind.case !== 'syncPage') throw new Error(`sync answered with ${f.kind.case}`);
    for (const cs of f.kind.value.conversations) cursors.set(cs.conversation, cs.nextCursor);
    if (!f.kind.value.hasMore) return;
  }
}
