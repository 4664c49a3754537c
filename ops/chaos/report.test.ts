/** docs/CHAOS.md's results table: a run's row is added, and replaces the row of the same scenario, flags and code. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DOC_HEADER, flagsOf, upsertRow } from './report.js';

const doc = 'intro\n\n<!-- chaos-results:start -->\n<!-- chaos-results:end -->\n\nafter\n';
const row = (scenario: string, code: string, acked: number): string[] =>
  DOC_HEADER.map((h) => (h === 'scenario' ? scenario : h === 'code' ? code : h === 'acked' ? String(acked) : h === 'flags' ? '--cycles 2' : '-'));

describe('chaos report: docs table', () => {
  it('flags: what shapes the run, not where its output goes', () => {
    assert.equal(flagsOf('npm run chaos -- kill --cycles 20 --out /tmp/x --no-doc --rate 50', 'kill'), '--cycles 20 --rate 50');
    assert.equal(flagsOf('npm run chaos -- kill', 'kill'), '(defaults)');
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
