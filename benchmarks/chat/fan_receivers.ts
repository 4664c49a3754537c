/**
 * The receiving side of the group fan-out bench (benchmarks/group_fanout.ts): every
 * member of the group on its own FastWs connection. Set-up (welcome, sync to the end:
 * live pushes start only after the first complete sync, create_group) decodes with
 * protobuf-es, as chat/fast_pairs.ts does; after that each member frame is only
 * peeked (chat_frames.ts) for its kind and the integer id the sender wrote into the
 * client_msg_id, so the receivers cost a few array operations per delivery and do
 * not bound the node's fan-out.
 *
 * What it counts per step: members that have each message (one Uint16 per message),
 * time to the FIRST and to the LAST member from the message's intended send time
 * (HDR histograms), deliveries, duplicates and stale frames (a previous step's).
 */
import type { FastWs } from './fast_ws.js';
import { setupConn, syncAll } from './setup_conn.js';
import { peek, errorCode, KIND_MESSAGE, KIND_ERROR, STEP_SPAN } from './chat_frames.js';
import { FanArrivals } from './fan_arrivals.js';

/** Connect and sync every user; 32 handshakes at once (more only queues them on a 2-core box). */
export async function openMembers(url: string, users: string[], token: (user: string, device: string) => Promise<string>, concurrency = 32): Promise<FastWs[]> {
  const out: FastWs[] = new Array(users.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < users.length) {
      const i = next++;
      const c = await setupConn(url, await token(users[i], 'd1'));
      await syncAll(c.call);
      out[i] = c.ws;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, users.length) }, lane));
  return out;
}

export class FanReceivers extends FanArrivals {
  /** Messages without our id (the group's creation message). */
  setupMessages = 0;

  constructor(members: FastWs[]) {
    super(members, STEP_SPAN);
    for (const m of members) m.onMessage = (buf, s, e) => this.onFrame(buf, s, e);
  }

  private onFrame(buf: Buffer, s: number, e: number): void {
    const f = peek(buf, s, e);
    if (f.kind !== KIND_MESSAGE) {
      if (f.kind === KIND_ERROR) this.count(errorCode(buf, s, e));
      return; // receipts, presence: not this load
    }
    if (f.id < 0) {
      this.setupMessages++;
      return;
    }
    this.arrived(f.id);
  }
}
