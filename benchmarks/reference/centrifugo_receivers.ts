/**
 * The receiving side of the Centrifugo fan-out bench (centrifugo_fanout.ts), the
 * counterpart of benchmarks/chat/fan_receivers.ts: every subscriber on its own FastWs
 * connection (Centrifugo's Protobuf client protocol, centrifuge_proto.ts).
 *
 * Set-up per connection: WebSocket upgrade, connect command with an HS256 JWT, wait for
 * its reply, subscribe command, wait for its reply (replies matched by id; an error
 * reply fails the set-up). After that each frame is only scanned for the message index
 * the publisher wrote into the data (indexOf of a marker: no Protobuf or JSON decode), so
 * the receivers cost a few array operations per delivery, as the Switchboard ones do.
 *
 * What it counts per step: members that have each message (one Uint16 per message),
 * time to the FIRST and to the LAST member from the message's intended send time (HDR
 * histograms), deliveries, duplicates and stale frames (a previous step's).
 */
import { FastWs } from '../chat/fast_ws.js';
import { FanArrivals } from '../chat/fan_arrivals.js';
import { connectFrame, subscribeFrame, readReplies, scanIndexes, INDEX_SPAN, type ReplyHead } from './centrifuge_proto.js';

/** Protobuf protocol; WebSocket-level pings (FastWs answers them) instead of app-level ping/pong. */
const QUERY = '?cf_protocol=protobuf&cf_ws_frame_ping_pong=true';

/** A connected (and, with `channel`, subscribed) client; frames after set-up go to ws.onMessage. */
export async function openClient(wsUrl: string, token: string, channel?: string): Promise<FastWs> {
  const ws = await FastWs.connect({ url: wsUrl + QUERY, protocol: 'centrifuge-protobuf' });
  const waiting = new Map<number, (r: ReplyHead) => void>();
  ws.onMessage = (buf, s, e) => readReplies(buf, s, e, (r) => waiting.get(r.id)?.(r));
  let died: (e: Error) => void = () => {};
  const closed = new Promise<never>((_r, rej) => (died = rej));
  closed.catch(() => {});
  ws.onClose = (code) => died(new Error(`closed with ${code} during set-up`));
  const call = (id: number, frame: Buffer, what: string): Promise<void> => {
    const reply = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no reply to ${what} in 15 s`)), 15_000);
      waiting.set(id, (r) => {
        clearTimeout(t);
        waiting.delete(id);
        if (r.errorCode) reject(new Error(`${what} failed: ${r.errorCode} ${r.errorMessage}`));
        else resolve();
      });
    });
    ws.writeRaw(frame);
    return Promise.race([reply, closed]);
  };
  await call(1, connectFrame(1, token), 'connect');
  if (channel) await call(2, subscribeFrame(2, channel), `subscribe ${channel}`);
  ws.onMessage = () => {};
  return ws;
}

/** Connect and subscribe every user; 32 handshakes at once (more only queues them on a 2-core box). */
export async function openMembers(wsUrl: string, users: string[], token: (user: string) => string, channel: string, concurrency = 32): Promise<FastWs[]> {
  const out: FastWs[] = new Array(users.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < users.length) {
      const i = next++;
      out[i] = await openClient(wsUrl, token(users[i]), channel);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, users.length) }, lane));
  return out;
}

export class CentrifugoReceivers extends FanArrivals {
  constructor(members: FastWs[]) {
    super(members, INDEX_SPAN);
    const onIndex = (n: number): void => this.arrived(n);
    for (const m of members) m.onMessage = (buf, s, e) => scanIndexes(buf, s, e, onIndex);
  }
}
