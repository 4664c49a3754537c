/** Host gauges read at scrape time: shard links, peer links by state, the cluster lease. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HostMetrics, type MetricSources } from './metrics.js';
import type { LinkState } from '../peers/peer_link.js';

type StubCluster = { directory: { all(): Array<{ stats(): { state: string } }> }; lease: { isValid(): boolean } } | null;

function stubHost(o: { links: unknown[]; cluster: StubCluster; enabled: boolean }): MetricSources {
  const c = o.cluster;
  return {
    writer: () => null,
    connections: () => 0,
    shardLinks: () => o.links as ReturnType<MetricSources['shardLinks']>,
    peerLinkStates: () => (c ? c.directory.all().map((l) => l.stats().state as LinkState) : []),
    leaseValid: o.enabled && c ? () => c.lease.isValid() : null,
    outboxPosted: () => 0,
  };
}

const line = (text: string, series: string): string | undefined => text.split('\n').find((l) => l.startsWith(series + ' '));

describe('HostMetrics', () => {
  it('a node outside a cluster: live shard links counted, every peer link state 0, no lease gauge', async () => {
    const m = new HostMetrics(stubHost({ links: [{ metrics: async () => null }, undefined, { metrics: async () => null }], cluster: null, enabled: false }));
    const text = await m.registry.metrics();
    assert.equal(line(text, 'switchboard_shard_links_up'), 'switchboard_shard_links_up 2');
    for (const s of ['connecting', 'up', 'down', 'stopped']) assert.equal(line(text, `switchboard_peer_links{state="${s}"}`), `switchboard_peer_links{state="${s}"} 0`);
    assert.doesNotMatch(text, /switchboard_cluster_lease_valid/);
  });

  it('a cluster node: peer links by state and the lease as 1 / 0', async () => {
    let valid = true;
    const link = (state: string) => ({ stats: () => ({ state }) });
    const cluster = { directory: { all: () => [link('up'), link('up'), link('connecting')] }, lease: { isValid: () => valid } };
    const m = new HostMetrics(stubHost({ links: [], cluster, enabled: true }));
    let text = await m.registry.metrics();
    assert.equal(line(text, 'switchboard_peer_links{state="up"}'), 'switchboard_peer_links{state="up"} 2');
    assert.equal(line(text, 'switchboard_peer_links{state="connecting"}'), 'switchboard_peer_links{state="connecting"} 1');
    assert.equal(line(text, 'switchboard_cluster_lease_valid'), 'switchboard_cluster_lease_valid 1');
    valid = false;
    text = await m.registry.metrics();
    assert.equal(line(text, 'switchboard_cluster_lease_valid'), 'switchboard_cluster_lease_valid 0');
  });
});
