/**
 * Metrics of one socket shard, kept in the thread's own prom-client registry. The host
 * asks every shard for `getMetricsAsJSON()` and merges them with its own into one
 * /metrics page (AggregatorRegistry.aggregate sums samples with equal labels, and
 * every shard sample carries its `shard` label, so nothing is lost in the merge).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Latency buckets in seconds: 0.5 ms .. 10 s. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class ShardMetrics {
  readonly registry = new Registry();
  readonly connections: Gauge;
  readonly framesIn: Counter;
  readonly framesOut: Counter;
  readonly sendAck: Histogram;
  readonly sendDeliver: Histogram;
  readonly errors: Counter;
  readonly closes: Counter;

  constructor(shard: number) {
    this.registry.setDefaultLabels({ shard: String(shard) });
    const registers = [this.registry];
    this.connections = new Gauge({ name: 'switchboard_shard_connections', help: 'Authenticated WebSocket connections held by the shard', registers });
    this.framesIn = new Counter({ name: 'switchboard_frames_in_total', help: 'Client frames received', registers });
    this.framesOut = new Counter({ name: 'switchboard_frames_out_total', help: 'Server frames sent', registers });
    this.sendAck = new Histogram({ name: 'switchboard_send_ack_seconds', help: 'Send frame arrival to its ack leaving (durable write included)', buckets: LATENCY_BUCKETS, registers });
    this.sendDeliver = new Histogram({ name: 'switchboard_send_deliver_seconds', help: 'Send frame arrival (any shard) to the push leaving to a recipient', buckets: LATENCY_BUCKETS, registers });
    this.errors = new Counter({ name: 'switchboard_client_errors_total', help: 'Error frames sent, by catalog code', labelNames: ['code'], registers });
    this.closes = new Counter({ name: 'switchboard_closes_total', help: 'Connections closed by the server, by close code', labelNames: ['code'], registers });
  }
}
