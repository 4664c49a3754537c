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
import { performance } from 'node:perf_hooks';
import type { FastWs } from './fast_ws.js';
import { setupConn, syncAll } from './setup_conn.js';
import { peek, errorCode, KIND_MESSAGE, KIND_ERROR, STEP_SPAN } from './chat_frames.js';
import { Latency } from '../lib/latency.js';

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

export class FanReceivers {
  /** Intended send time -> the first / the last member has it (ms). */
  readonly first = new Latency();
  readonly last = new Latency();
  /** Intended send time of message i of the step (performance.now() ms): the sender fills it before writing. */
  due = new Float64Array(0);
  private arrivals = new Uint16Array(0);
  private base = 0;
  private total = 0;
  deliveries = 0;
  /** Messages every member has. */
  complete = 0;
  lastCompleteAt = 0;
  /** Our messages from a finished step (after its drain). */
  stale = 0;
  /** Messages without our id (the group's creation message). */
  setupMessages = 0;
  errors: Record<string, number> = {};
  /** Called when message i has reached every member (the closed loop waits on it). */
  onComplete: (i: number) => void = () => {};
  private running = false;

  constructor(private readonly members: FastWs[]) {
    if (members.length > 65535) throw new Error('arrival counts are 16-bit: at most 65,535 members');
    for (const m of members) {
      m.onMessage = (buf, s, e) => this.onFrame(buf, s, e);
      m.onClose = (code) => {
        if (this.running) this.count(`member_closed_${code}`);
      };
    }
  }

  get size(): number {
    return this.members.length;
  }

  count(code: string, n = 1): void {
    this.errors[code] = (this.errors[code] ?? 0) + n;
  }

  /** Reset for step `step` of `total` messages (ids step * STEP_SPAN + i). */
  begin(step: number, total: number): void {
    if (total >= STEP_SPAN) throw new Error('too many messages in one step');
    this.first.reset();
    this.last.reset();
    this.due = new Float64Array(total);
    this.arrivals = new Uint16Array(total);
    this.base = step * STEP_SPAN;
    this.total = total;
    this.deliveries = this.complete = this.stale = 0;
    this.errors = {};
    this.running = true;
  }

  /** Stop counting this step: later frames for it count as stale in the next one. Returns lost messages of the first `sent`. */
  end(sent: number): { lost: number; fewestMembers: number } {
    this.running = false;
    this.total = 0;
    let lost = 0;
    let fewest = this.size;
    for (let i = 0; i < sent; i++) {
      const n = this.arrivals[i];
      if (n < this.size) {
        lost++;
        if (n < fewest) fewest = n;
      }
    }
    return { lost, fewestMembers: fewest };
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
    const i = f.id - this.base;
    if (i < 0 || i >= this.total) {
      this.stale++;
      return;
    }
    const n = ++this.arrivals[i];
    this.deliveries++;
    // performance.now() only for the first and the last member: the rest is two array writes.
    if (n === 1) this.first.recordMs(performance.now() - this.due[i]);
    if (n === this.members.length) {
      const now = performance.now();
      this.last.recordMs(now - this.due[i]);
      this.complete++;
      this.lastCompleteAt = now;
      this.onComplete(i);
    } else if (n > this.members.length) this.count('duplicate_delivery');
  }

  close(): void {
    for (const m of this.members) m?.close();
  }
}
