/**
 * Host metrics and the one /metrics page: the host's own registry (restarts per
 * child, store queue depth, batches, call latency and ops, outbox, connections,
 * shard and peer links, the cluster lease) merged with every socket shard's registry
 * (connections, frames, send->ack and send->deliver histograms).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { SupervisorReport } from '../../supervisor/index.js';
import { StoreMetrics } from '../store/metered_store.js';
import type { LinkState } from '../peers/peer_link.js';

/**
 * Sampling interval of the host loop-delay histogram, ms. prom-client's
 * nodejs_eventloop_lag_* samples every 10 ms, so a block can read up to 10 ms short;
 * at 2 ms the longest block reads at most 2 ms short, for 500 timer wake-ups a second
 * handled in C++ (no JS runs for a sample).
 */
const LOOP_DELAY_RESOLUTION_MS = 2;

/** What the host's gauges read (the host provides it; metrics know nothing else of it). */
export interface MetricSources {
  /** The write path's counters; null while the store child is not running. */
  writer(): { queueDepth: number; batchesCommitted: number } | null;
  connections(): number;
  /** Per socket shard: its link for metrics, undefined while it is down. */
  shardLinks(): ReadonlyArray<{ metrics(): Promise<unknown> } | undefined>;
  /** States of the cluster peer links (none outside a cluster). */
  peerLinkStates(): LinkState[];
  /** null outside a cluster. */
  leaseValid: (() => boolean) | null;
  outboxPosted(): number;
}

export class HostMetrics {
  readonly registry = new Registry();
  /** Store call latency and ops committed (the host wraps its store with meteredStore). */
  readonly store = new StoreMetrics(this.registry);
  private readonly restarts: Counter;

  constructor(private readonly host: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.restarts = new Counter({ name: 'switchboard_child_restarts_total', help: 'Supervised children restarted, by supervisor and child', labelNames: ['supervisor', 'child'], registers });
    new Gauge({
      name: 'switchboard_store_queue_depth',
      help: 'Writes accepted by the batch writer and not yet durable',
      registers,
      collect() {
        this.set(host.writer()?.queueDepth ?? 0);
      },
    });
    new Gauge({
      name: 'switchboard_store_batches_committed',
      help: 'Store batches committed since the writer started',
      registers,
      collect() {
        this.set(host.writer()?.batchesCommitted ?? 0);
      },
    });
    new Gauge({
      name: 'switchboard_online_connections',
      help: 'Connections in the host routing registry',
      registers,
      collect() {
        this.set(host.connections());
      },
    });
    new Gauge({
      name: 'switchboard_shard_links_up',
      help: 'Socket shard threads with a live link to the host',
      registers,
      collect() {
        this.set(host.shardLinks().filter((l) => l !== undefined).length);
      },
    });
    new Gauge({
      name: 'switchboard_peer_links',
      help: 'Cluster peer links by state (all 0 on a node outside a cluster)',
      labelNames: ['state'],
      registers,
      collect() {
        const by: Record<LinkState, number> = { connecting: 0, up: 0, down: 0, stopped: 0 };
        for (const state of host.peerLinkStates()) by[state]++;
        for (const [state, n] of Object.entries(by)) this.set({ state }, n);
      },
    });
    const leaseValid = host.leaseValid;
    if (leaseValid) {
      new Gauge({
        name: 'switchboard_cluster_lease_valid',
        help: '1 while this node holds a valid etcd lease, 0 when it has none or it lapsed (cluster nodes only)',
        registers,
        collect() {
          this.set(leaseValid() ? 1 : 0);
        },
      });
    }
    // The main event loop's delay (how late a timer fires: the length of whatever blocked
    // the loop, a commit's fsync for one), since the previous scrape, then reset: the
    // benchmarks scrape at the start and end of a measured window.
    const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
    loopDelay.enable();
    new Gauge({
      name: 'switchboard_host_loop_delay_seconds',
      help: `Host main event-loop delay since the previous scrape, sampled every ${LOOP_DELAY_RESOLUTION_MS} ms, by quantile (1 = the longest block)`,
      labelNames: ['quantile'],
      registers,
      collect() {
        // The histogram records the whole timer interval: subtract the resolution to get the delay.
        const s = (ns: number): number => Math.max(0, ns / 1e9 - LOOP_DELAY_RESOLUTION_MS / 1000);
        const n = loopDelay.count;
        this.set({ quantile: '0.5' }, n ? s(loopDelay.percentile(50)) : 0);
        this.set({ quantile: '0.99' }, n ? s(loopDelay.percentile(99)) : 0);
        this.set({ quantile: '1' }, n ? s(loopDelay.max) : 0);
        loopDelay.reset();
      },
    });
    new Gauge({
      name: 'switchboard_outbox_items_posted',
      help: 'Push items posted from the host to shards',
      registers,
      collect() {
        this.set(host.outboxPosted());
      },
    });
  }

  onReport(r: SupervisorReport): void {
    if (r.kind === 'child_exited' && r.action === 'restart') this.restarts.inc({ supervisor: r.supervisor, child: r.child });
  }

  /** Other threads' registries to merge (prom-client JSON, null when unavailable): the media listener's. */
  readonly extraSources: Array<() => Promise<unknown>> = [];

  /** Prometheus text of the host, every live shard and the extra sources. */
  async render(): Promise<string> {
    const shardJson = await Promise.all([...this.host.shardLinks().map((l) => (l ? l.metrics() : Promise.resolve(null))), ...this.extraSources.map((f) => f())]);
    const all = [await this.registry.getMetricsAsJSON(), ...shardJson.filter((j) => j !== null)] as Parameters<typeof AggregatorRegistry.aggregate>[0];
    return AggregatorRegistry.aggregate(all).metrics();
  }
}
