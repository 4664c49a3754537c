/**
 * Sets up the 1:1 chat load on FastWs connections: N pairs of users, each sender and
 * recipient on its own connection; the sender opens the direct conversation, both
 * sync to the end (live pushes start after the first sync). Set-up frames are
 * encoded and decoded with protobuf-es (cost does not matter here); once a pair is
 * ready its connections are handed to the load loop, which reads raw bytes.
 */
import type { FastWs } from './fast_ws.js';
import { setupConn, syncAll } from './setup_conn.js';
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
