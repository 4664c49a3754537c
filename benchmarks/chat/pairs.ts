/**
 * Sets up the 1:1 chat load: N pairs of users, each sender and recipient on its own
 * connection. The sender opens the direct conversation; the recipient syncs to the
 * end so the node starts pushing to it live.
 */
import { BenchConn } from '../lib/bench_conn.js';

export interface Pair {
  sender: BenchConn;
  recipient: BenchConn;
  conversation: string;
}

export interface PairSetup {
  url: string;
  pairs: number;
  /** Distinguishes users between runs and between worker processes. */
  tag: string;
  token: (user: string, device: string) => Promise<string>;
  localAddress?: string;
  /** Connections opened at once; more only queues handshakes on a 2-core box. */
  concurrency?: number;
  onProgress?: (done: number) => void;
}

export async function openPairs(o: PairSetup): Promise<Pair[]> {
  const out: Pair[] = new Array(o.pairs);
  let next = 0;
  let done = 0;
  const one = async (i: number): Promise<void> => {
    const s = `${o.tag}-s${i}`;
    const r = `${o.tag}-r${i}`;
    const [sender, recipient] = await Promise.all([
      BenchConn.connect({ url: o.url, token: await o.token(s, 'd1'), localAddress: o.localAddress }),
      BenchConn.connect({ url: o.url, token: await o.token(r, 'd1'), localAddress: o.localAddress }),
    ]);
    const f = await sender.call({ kind: { case: 'openDirect', value: { peer: r } } });
    if (f.kind.case !== 'directOpened') throw new Error(`openDirect answered with ${f.kind.case}: ${JSON.stringify(f.kind.value)}`);
    await Promise.all([sender.syncAll(), recipient.syncAll()]);
    out[i] = { sender, recipient, conversation: f.kind.value.conversation };
    o.onProgress?.(++done);
  };
  const lane = async (): Promise<void> => {
    while (next < o.pairs) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency ?? 32, o.pairs) }, lane));
  return out;
}

export function closePairs(pairs: Pair[]): void {
  for (const p of pairs) {
    p.sender.close();
    p.recipient.close();
  }
}
