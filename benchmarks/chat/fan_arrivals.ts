/**
 * What the fan-out benches count on their receiving side, whatever the server
 * (./fan_receivers.ts for Switchboard, benchmarks/reference/
 * centrifugo_receivers.ts for Centrifugo): per message of a step, how many members have
 * it (one Uint16 each), the time to the FIRST and to the LAST member from the message's
 * intended send time (HDR histograms), deliveries, duplicates, and stale arrivals (a
 * previous step's). A subclass parses its server's frames and calls arrived(id) with the
 * integer id the sender put in each message.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Latency } from '../lib/latency.js';
import type { FastWs } from './fast_ws.js';

export class FanArrivals {
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
  /** Called when message i has reached every member (a closed loop waits on it). */
  onComplete: (i: number) => void = () => {};
  private running = false;

  constructor(
    protected readonly members: FastWs[],
    /** Ids of step s are s * span + i: a step's ids never meet another's. */
    private readonly span: number,
  ) {
    if (members.length > 65535) throw new Error('arrival counts are 16-bit: at most 65,535 members');
    for (const m of members) {
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

  /** Reset for step `step` of `total` messages (ids step * span + i). */
  begin(step: number, total: number): void {
    if (total >= this.span) throw new Error('too many messages in one step');
    this.first.reset();
    this.last.reset();
    this.due = new Float64Array(total);
    this.arrivals = new Uint16Array(total);
    this.base = step * this.span;
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

  /** A member got the message with this id. */
  protected arrived(id: number): void {
    const i = id - this.base;
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

/** The figures of one fan-out step both benches report (each adds its server's CPU). */
export function fanStepFigures<R extends number | null>(
  members: FanArrivals,
  o: { rate: R; sent: number; acked: number; lost: number; fewestMembers: number; deliveries: number; wallSec: number; ack: Latency; lag: Latency },
) {
  return {
    targetRate: o.rate,
    sent: o.sent,
    acked: o.acked,
    complete: members.complete,
    lost: o.lost,
    fewestMembers: o.lost ? o.fewestMembers : null,
    deliveries: o.deliveries,
    deliveriesPerSec: Math.round(o.deliveries / o.wallSec),
    wallSec: Math.round(o.wallSec * 100) / 100,
    last: members.last.summary(),
    first: members.first.summary(),
    ack: o.ack.summary(),
    scheduleLag: o.lag.summary(),
    errors: { ...members.errors },
    stale: members.stale,
    loadAvg1m: load1(),
    lastCurve: members.last.curve(),
  };
}

/** What fanStepFigures returns (each bench's step row adds its own fields to it). */
export type FanStepFigures<R extends number | null> = ReturnType<typeof fanStepFigures<R>>;

/** The 1-minute load average, two decimals (printed and stored with every step). */
export const load1 = (): number => Math.round(os.loadavg()[0] * 100) / 100;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Drive one step's sends and wait for the members: open loop (`rate`), each timer tick
 * sends every message now due, in one call; closed loop (`rate` null), the next message
 * once every member has this one (or after `drainMs`: lost). Then up to `drainMs` for
 * every member and every ack. Progress once a second. Returns how many were sent.
 */
export async function driveFanStep(
  members: FanArrivals,
  o: { stepNo: number; rate: number | null; total: number; t0: number; drainMs: number; acked: () => number; send: (from: number, to: number, now: number) => void },
): Promise<number> {
  const { total, t0 } = o;
  let sent = 0;
  let prev = 0;
  const progress = setInterval(() => {
    const d = members.deliveries;
    console.log(`  [${o.stepNo}] t=${String(Math.round((performance.now() - t0) / 1000)).padStart(3)}s  sent ${sent.toLocaleString('en-US')}  acked ${o.acked().toLocaleString('en-US')}  at every member ${members.complete.toLocaleString('en-US')}  deliveries ${d.toLocaleString('en-US')} (+${(d - prev).toLocaleString('en-US')})  errors ${Object.values(members.errors).reduce((a, b) => a + b, 0)}`);
    prev = d;
  }, 1000);
  try {
    if (o.rate === null) {
      for (let i = 0; i < total; i++) {
        const all = new Promise<void>((r) => (members.onComplete = (k) => k === i && r()));
        const now = performance.now();
        members.due[i] = now;
        o.send(i, i + 1, now);
        sent = i + 1;
        await Promise.race([all, sleep(o.drainMs)]);
      }
      members.onComplete = () => {};
    } else {
      const interval = 1000 / o.rate;
      for (let i = 0; i < total; i++) members.due[i] = t0 + i * interval;
      while (sent < total) {
        const now = performance.now();
        const due = Math.min(total, Math.floor((now - t0) / interval) + 1);
        if (due > sent) o.send(sent, due, now);
        sent = Math.max(sent, due);
        if (sent < total) await sleep(Math.max(0, t0 + sent * interval - performance.now()));
      }
    }
    const deadline = performance.now() + o.drainMs;
    while ((members.complete < sent || o.acked() < sent) && performance.now() < deadline) await sleep(10);
  } finally {
    clearInterval(progress);
  }
  return sent;
}

/** The sender's side of a fan-out step: which messages are acked, send->ack and how late each send left (schedule lag). */
export class FanSender {
  readonly ack = new Latency();
  readonly lag = new Latency();
  private acked = new Uint8Array(0);
  count = 0;
  lastAckAt = 0;
  /** The id of message 0 of the step. */
  base = 0;

  constructor(private readonly members: FanArrivals) {}

  begin(base: number, total: number, t0: number): void {
    this.acked = new Uint8Array(total);
    this.count = 0;
    this.base = base;
    this.ack.reset();
    this.lag.reset();
    this.lastAckAt = t0;
  }

  /** The message with this id belongs to the step and has no ack yet. */
  waiting(id: number): boolean {
    const i = id - this.base;
    return id >= 0 && i >= 0 && i < this.acked.length && !this.acked[i];
  }

  /** Its ack arrived (ignored unless waiting). */
  acknowledged(id: number): void {
    if (!this.waiting(id)) return;
    const i = id - this.base;
    this.acked[i] = 1;
    this.count++;
    this.lastAckAt = performance.now();
    this.ack.recordMs(this.lastAckAt - this.members.due[i]);
  }

  /** Messages [from, to) of the step left at `now`. */
  sending(from: number, to: number, now: number): void {
    for (let i = from; i < to; i++) this.lag.recordMs(now - this.members.due[i]);
  }

  /**
   * After driveFanStep: deliveries, lost messages and the step's wall time (to the last
   * ack or completion when everything arrived, else to now); unacked sends are counted.
   */
  end(sent: number, t0: number): { deliveries: number; lost: number; fewestMembers: number; wallSec: number } {
    const m = this.members;
    const done = m.complete === sent && this.count === sent;
    const endAt = done ? Math.max(m.lastCompleteAt, this.lastAckAt) : performance.now();
    const deliveries = m.deliveries;
    const { lost, fewestMembers } = m.end(sent);
    if (this.count < sent) m.count('unacked', sent - this.count);
    return { deliveries, lost, fewestMembers, wallSec: (endAt - t0) / 1000 };
  }
}
