import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { SqliteStore } from './sqlite_store.js';
import { meteredStore, StoreMetrics } from './metered_store.js';
import { runStoreConformance } from './conformance.js';
import { msgOp } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'switchboard-metered-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// The wrapper is a MessageStore like any other: the shared suite runs through it.
const sharedFile = join(dir, 'conformance.db');
runStoreConformance('metered sqlite', async () => meteredStore(new SqliteStore(sharedFile), new StoreMetrics(new Registry())));

async function sample(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  // A histogram's _count series sits under the histogram's own name.
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name || `${m.name}_count` === name);
  const hit = metric?.values.find(
    (v) => ((v as { metricName?: string }).metricName ?? metric.name) === name && Object.entries(labels).every(([k, val]) => v.labels[k] === val),
  );
  return hit?.value;
}

describe('meteredStore', () => {
  it('counts committed ops by kind and times commits and reads by outcome', async () => {
    const registry = new Registry();
    const store = meteredStore(new SqliteStore(join(dir, 'counts.db')), new StoreMetrics(registry));
    await store.commit([msgOp('c1', 1), msgOp('c1', 2), { kind: 'cursor', cursor: { conversation: 'c1', user: 'bob', device: 'd1', delivered: 2, read: 1 } }]);
    const found = await store.findByClientMsgId('c1', 'alice', 'c2');
    assert.equal(found?.seq, 2);
    assert.equal(await store.findByClientMsgId('c1', 'alice', 'nope'), null);
    // A members op adding and removing one user is invalid: the commit fails, nothing is counted as committed.
    await assert.rejects(store.commit([{ kind: 'members', conversation: 'c1', add: [{ user: 'x', role: 'member' }], remove: [{ user: 'x', untilSeq: 2 }] }]));

    assert.equal(await sample(registry, 'switchboard_store_ops_committed_total', { kind: 'message' }), 2);
    assert.equal(await sample(registry, 'switchboard_store_ops_committed_total', { kind: 'cursor' }), 1);
    assert.equal(await sample(registry, 'switchboard_store_ops_committed_total', { kind: 'members' }), undefined);
    assert.equal(await sample(registry, 'switchboard_store_call_seconds_count', { call: 'commit', outcome: 'ok' }), 1);
    assert.equal(await sample(registry, 'switchboard_store_call_seconds_count', { call: 'commit', outcome: 'error' }), 1);
    assert.equal(await sample(registry, 'switchboard_store_call_seconds_count', { call: 'findByClientMsgId', outcome: 'ok' }), 2);
    // Batch size: one successful commit of 3 ops (the failed one is not observed).
    const batch = (await registry.getSingleMetric('switchboard_store_commit_ops')!.get()).values as Array<{ metricName?: string; value: number }>;
    assert.equal(batch.find((v) => v.metricName === 'switchboard_store_commit_ops_count')?.value, 1);
    assert.equal(batch.find((v) => v.metricName === 'switchboard_store_commit_ops_sum')?.value, 3);
    await store.close();
  });
});
