/**
 * What one step of an open-loop chat load measured (benchmarks/chat/open_loop.ts and
 * fast_loop.ts produce it; the one-node report and the load generator's messages
 * carry it).
 */
import { Latency, type LatencySummary, type PercentileCurve } from './latency.js';

export interface StepResult {
  targetRate: number;
  durationSec: number;
  sent: number;
  acked: number;
  delivered: number;
  /** Acked (durable) messages per second from the first scheduled send to the last ack. */
  durableRate: number;
  deliveredRate: number;
  unacked: number;
  undelivered: number;
  errors: Record<string, number>;
  ack: LatencySummary;
  deliver: LatencySummary;
  scheduleLag: LatencySummary;
  ackCurve: PercentileCurve;
  deliverCurve: PercentileCurve;
  /** Replies that arrived for a previous step's messages (after its drain deadline). */
  stale: number;
}

/** What a load loop counted over one step, to be turned into its StepResult. */
export interface StepCounts {
  targetRate: number;
  durationSec: number;
  /** performance.now() at the first scheduled send, and at the last ack / delivery. */
  t0: number;
  lastAckAt: number;
  lastDeliverAt: number;
  sent: number;
  acked: number;
  delivered: number;
  unacked: number;
  undelivered: number;
  /** Error frames by code; the messages still unanswered at the drain deadline are added here. */
  errors: Record<string, number>;
  ack: Latency;
  deliver: Latency;
  lag: Latency;
  stale: number;
}

/** The step's result, the same for every load loop (open_loop.ts, fast_loop.ts). */
export function stepResult(c: StepCounts): StepResult {
  const errors = { ...c.errors };
  if (c.unacked) errors.no_ack_in_time = c.unacked;
  if (c.undelivered) errors.not_delivered_in_time = c.undelivered;
  const span = (t: number): number => Math.max(0.001, (t - c.t0) / 1000);
  return {
    targetRate: c.targetRate,
    durationSec: c.durationSec,
    sent: c.sent,
    acked: c.acked,
    delivered: c.delivered,
    durableRate: c.acked / span(c.lastAckAt),
    deliveredRate: c.delivered / span(c.lastDeliverAt),
    unacked: c.unacked,
    undelivered: c.undelivered,
    errors,
    ack: c.ack.summary(),
    deliver: c.deliver.summary(),
    scheduleLag: c.lag.summary(),
    ackCurve: c.ack.curve(),
    deliverCurve: c.deliver.curve(),
    stale: c.stale,
  };
}

/**
 * The counters and histograms both chat load loops keep per step (open_loop.ts,
 * fast_loop.ts extend it): error frames by code, closes while a step runs, and the
 * step's result built from them.
 */
export class StepCounters {
  protected readonly ack = new Latency();
  protected readonly deliver = new Latency();
  protected readonly lag = new Latency();
  protected errors: Record<string, number> = {};
  protected sent = 0;
  protected acked = 0;
  protected delivered = 0;
  /** Replies for a finished step's messages. */
  protected stale = 0;
  protected lastAckAt = 0;
  protected lastDeliverAt = 0;
  protected step = 0;
  protected running = false;

  /** Count closes of these connections while a step runs, as `closed_<code>`. */
  protected watchCloses(conns: Array<{ onClose: (code: number) => void }>): void {
    const closed = (code: number): void => {
      if (this.running) this.count(`closed_${code}`);
    };
    for (const c of conns) c.onClose = closed;
  }

  protected count(code: string): void {
    this.errors[code] = (this.errors[code] ?? 0) + 1;
  }

  /** The next step: histograms, errors and counters start fresh; `t0` is its first scheduled send. */
  protected beginStep(t0: number): void {
    this.step++;
    this.ack.reset();
    this.deliver.reset();
    this.lag.reset();
    this.errors = {};
    this.sent = this.acked = this.delivered = this.stale = 0;
    this.lastAckAt = this.lastDeliverAt = t0;
    this.running = true;
  }

  /** Messages without an ack or a delivery by the drain deadline, counted by the loop. */
  protected result(o: { rate: number; durationSec: number }, t0: number, sent: number, unacked: number, undelivered: number): StepResult {
    return stepResult({
      targetRate: o.rate, durationSec: o.durationSec, t0, lastAckAt: this.lastAckAt, lastDeliverAt: this.lastDeliverAt,
      sent, acked: this.acked, delivered: this.delivered, unacked, undelivered, errors: this.errors,
      ack: this.ack, deliver: this.deliver, lag: this.lag, stale: this.stale,
    });
  }

  /** The last step's histograms, encoded for merging across client processes. */
  encoded(): Record<string, string> {
    return { ack: this.ack.encode(), deliver: this.deliver.encode(), lag: this.lag.encode() };
  }
}
