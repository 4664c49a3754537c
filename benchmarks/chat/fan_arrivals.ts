/**
 * What the fan-out benches count on their receiving side, whatever the server
 * (./fan_receivers.ts for Switchboard, benchmarks/reference/
 * centrifugo_receivers.ts for Centrifugo): per message of a step, how many members have
 * it (one Uint16 each), the time to the FIRST and to the LAST member from the message's
 * intended send time (HDR histograms), deliveries, duplicates, and stale arrivals (a
 * previous step's). A subclass parses its server's frames and calls arrived(id) with the
 * integer id the sender put in each message.
 */
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
  };
}
