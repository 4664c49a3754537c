/**
 * The chaos harness, short (CI): `kill` (one node on SQLite) and `owner-freeze` (a
 * 3-node cell on the shared test Cassandra) for 2 cycles each with light traffic;
 * every bad count of the history check must be 0. The file name holds "cassandra" so
 * `npm test` starts its shared Cassandra for it (ops/test_runner.ts). The full runs
 * are `npm run chaos -- <scenario>` (ops/chaos/README.md, docs/CHAOS.md).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getTestCassandra, type TestCassandra } from '../../node/store/cassandra_test_env.js';
import { BAD_COUNTS } from './checker.js';
import { runChaos, type ChaosOptions } from './run.js';

const SHORT: Partial<ChaosOptions> = {
  cycles: 2,
  seconds: 120,
  params: { gapMs: 1_500, leaseTtlSec: 3 },
  workload: { directs: 1, groups: 1, rate: 40 },
  drainSeconds: 45,
  finalSyncSeconds: 45,
  doc: false,
};

describe('chaos harness, short runs', { timeout: 600_000 }, () => {
  let cass: TestCassandra;
  let out: string;

  before(async () => {
    cass = await getTestCassandra();
    out = mkdtempSync(path.join(tmpdir(), 'sb-chaos-ci-'));
  }, { timeout: 180_000 });

  after(async () => {
    await cass?.release();
    rmSync(out, { recursive: true, force: true });
  });

  async function run(t: { diagnostic(s: string): void }, scenario: string, o: Partial<ChaosOptions> = {}): Promise<void> {
    const lines: string[] = [];
    const r = await runChaos({ ...SHORT, ...o, scenario, outBase: out, log: (l) => lines.push(l), command: `chaos_cassandra.test.ts ${scenario}` });
    for (const l of lines.filter((l) => l.startsWith('[') || l.startsWith(scenario))) t.diagnostic(l);
    const counts = r.check ? Object.fromEntries(BAD_COUNTS.map((k) => [k, r.check![k]])) : null;
    const why = `\n${lines.join('\n')}`;
    assert.deepEqual(r.errors, [], `the run completed${why}`);
    assert.ok(r.check, `the history was checked${why}`);
    assert.equal(r.cycles.length, SHORT.cycles, `every cycle ran${why}`);
    assert.ok(r.check.acked > 0, `messages were acked${why}`);
    assert.equal(r.check.incompleteFinal, 0, `every device completed its final sync${why}`);
    assert.deepEqual(counts, Object.fromEntries(BAD_COUNTS.map((k) => [k, 0])), `no acked message lost, no seq acked twice, no duplicate, no disagreement, no gap${why}`);
    assert.equal(r.exitCode, 0);
  }

  it('kill: one node SIGKILLed and restarted twice under traffic', { timeout: 240_000 }, (t) => run(t, 'kill'));

  it('owner-freeze: the owner frozen past its lease twice, senders on it keeping their sockets', { timeout: 300_000 }, (t) => run(t, 'owner-freeze', { cassandra: cass.contactPoint }));
});
