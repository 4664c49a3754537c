/** docs/CHAOS.md's results table: a run's row is added, and replaces the row of the same scenario, settings and code. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DOC_HEADER, settingsOf, upsertRow } from './report.js';

const doc = 'intro\n\n<!-- chaos-results:start -->\n<!-- chaos-results:end -->\n\nafter\n';
const row = (scenario: string, code: string, acked: number): string[] =>
  DOC_HEADER.map((h) => (h === 'scenario' ? scenario : h === 'code' ? code : h === 'acked' ? String(acked) : h === 'settings' ? '100 msg/s' : '-'));

describe('chaos report: docs table', () => {
  it('settings: what shapes the run, from its config', () => {
    const config = { scenario: 'owner-freeze', params: { leaseTtlSec: 5, freezeFactor: 1.6 }, workload: { rate: 100, maxInflight: 64, directs: 1, groups: 1 }, sut: { kind: 'cell' } };
    assert.equal(settingsOf(config), 'TTL 5 s, freeze 1.6 x TTL, 100 msg/s, 64 in flight, 1 1:1 + 1 group per node');
    assert.equal(settingsOf({ ...config, scenario: 'kill', sut: { kind: 'single node' } }), '100 msg/s, 64 in flight, 1 1:1 + 1 group per node');
  });

  it('adds rows, replaces the same scenario + code, keeps the text around it', () => {
    let d = upsertRow(doc, row('kill', 'abc', 1));
    d = upsertRow(d, row('owner-freeze', 'abc', 2));
    d = upsertRow(d, row('kill', 'def', 3));
    d = upsertRow(d, row('kill', 'abc', 4));
    const lines = d.split('\n').filter((l) => l.startsWith('|'));
    assert.equal(lines.length, 2 + 3, 'header, separator, three rows');
    const cells = lines.slice(2).map((l) => l.slice(2, -2).split(' | '));
    const col = (h: string): number => DOC_HEADER.indexOf(h);
    assert.deepEqual(cells.map((c) => [c[col('scenario')], c[col('code')], c[col('acked')]]), [['owner-freeze', 'abc', '2'], ['kill', 'def', '3'], ['kill', 'abc', '4']]);
    assert.ok(d.startsWith('intro\n') && d.endsWith('\n\nafter\n'));
  });
});
