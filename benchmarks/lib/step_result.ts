/**
 * What one step of an open-loop chat load measured (benchmarks/chat/open_loop.ts and
 * fast_loop.ts produce it; the one-node report and the load generator's messages
 * carry it).
 */
import type { Latency, LatencySummary, PercentileCurve } from './latency.js';

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
