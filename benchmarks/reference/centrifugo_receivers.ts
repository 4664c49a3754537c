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
import { performance } from 'node:perf_hooks';
import { FastWs } from '../chat/fast_ws.js';
import { Latency } from '../lib/latency.js';
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

export class CentrifugoReceivers {
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
  errors: Record<string, number> = {};
  private running = false;

  constructor(private readonly members: FastWs[]) {
    if (members.length > 65535) throw new Error('arrival counts are 16-bit: at most 65,535 members');
    const onIndex = (n: number): void => this.onIndex(n);
    for (const m of members) {
      m.onMessage = (buf, s, e) => scanIndexes(buf, s, e, onIndex);
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

  /** Reset for step `step` of `total` messages (indexes step * INDEX_SPAN + i). */
  begin(step: number, total: number): void {
    if (total >= INDEX_SPAN) throw new Error('too many messages in one step');
    this.first.reset();
    this.last.reset();
    this.due = new Float64Array(total);
    this.arrivals = new Uint16Array(total);
    this.base = step * INDEX_SPAN;
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

  private onIndex(index: number): void {
    const i = index - this.base;
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
    } else if (n > this.members.length) this.count('duplicate_delivery');
  }

  close(): void {
    for (const m of this.members) m?.close();
  }
}
