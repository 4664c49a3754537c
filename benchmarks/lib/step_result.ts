/**
 * What one step of an open-loop chat load measured (benchmarks/chat/open_loop.ts and
 * fast_loop.ts produce it; the one-node report and the load generator's messages
 * carry it).
 */
import type { LatencySummary, PercentileCurve } from './latency.js';

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
