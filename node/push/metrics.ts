/**
 * Push metrics (prom-client, registered on the host's registry like StoreMetrics):
 * pushes sent, failed (a provider call that will be retried) and dropped (given up:
 * unregistered, rejected, expired, attempts), by provider and reason; the outbox depth;
 * the time from the message's commit to the provider accepting its push. No label
 * carries a user, device or token.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export class PushMetrics {
  readonly sent: Counter<'provider'>;
  readonly failed: Counter<'provider' | 'reason'>;
  readonly dropped: Counter<'provider' | 'reason'>;
  readonly skipped: Counter<'reason'>;
  readonly latency: Histogram<'provider'>;
  /** Set by the outbox: owed pushes in memory and device pushes pending. */
  readonly depth: Gauge<'kind'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.sent = new Counter({ name: 'switchboard_push_sent_total', help: 'Pushes a provider accepted, by provider', labelNames: ['provider'], registers });
    this.failed = new Counter({
      name: 'switchboard_push_failed_total',
      help: 'Provider calls that failed and will be retried, by provider and reason (the HTTP status such as 429 or 503, network, store)',
      labelNames: ['provider', 'reason'],
      registers,
    });
    this.dropped = new Counter({
      name: 'switchboard_push_dropped_total',
      help: 'Pushes given up, by provider and reason (unregistered, rejected, expired, attempts, no_provider)',
      labelNames: ['provider', 'reason'],
      registers,
    });
    this.skipped = new Counter({
      name: 'switchboard_push_skipped_total',
      help: 'Device pushes settled without a provider call, by reason (acked, already_sent, unregistered_device)',
      labelNames: ['reason'],
      registers,
    });
    this.latency = new Histogram({
      name: 'switchboard_push_message_to_push_seconds',
      help: 'From the message commit to the provider accepting its push (collapse and ack waits included), seconds',
      labelNames: ['provider'],
      // From a loopback provider (~ms) to a push held by the collapse window or a retry (minutes).
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    this.depth = new Gauge({ name: 'switchboard_push_outbox_depth', help: 'Push outbox: owed messages in memory (owed) and device pushes waiting (pending)', labelNames: ['kind'], registers });
  }
}
