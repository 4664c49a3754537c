/**
 * Runs every scenario's --smoke mode as a real CLI process and checks the harness
 * works: it exits 0, writes result.json (parseable, with machine info and non-zero
 * counts) and report.html. It asserts nothing about the figures themselves: those
 * are measured, not tested.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from '../ops/lib/results.js';

const out = mkdtempSync(path.join(tmpdir(), 'sb-bench-smoke-'));

/** Run `bench <scenario> --smoke`; `dirName` is the results folder suffix when it differs. */
function runSmoke(scenario: string, extra: string[] = [], dirName = scenario): any {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'benchmarks/cli.ts', scenario, '--smoke', '--out', out, ...extra], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `bench ${scenario} --smoke exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  const dir = readdirSync(out).filter((d) => d.endsWith(`-${dirName}`)).sort().at(-1);
  assert.ok(dir, `no results dir for ${scenario} in ${out}`);
  assert.ok(existsSync(path.join(out, dir, 'report.html')), 'report.html written');
  const html = readFileSync(path.join(out, dir, 'report.html'), 'utf8');
  assert.match(html, /<svg/, 'report has inline SVG charts');
  const res = JSON.parse(readFileSync(path.join(out, dir, 'result.json'), 'utf8'));
  assert.ok(res.machine.cpus > 0 && res.machine.node, 'machine info recorded');
  return res.figures;
}

test('one-node --smoke', () => {
  const f = runSmoke('one-node');
  assert.ok(f.steps[0].acked > 0 && f.steps[0].delivered > 0);
  assert.ok(f.steps[0].ack.count > 0);
});

test('one-node --smoke --find-max', () => {
  const f = runSmoke('one-node', ['--find-max'], 'one-node-find-max');
  assert.ok(f.steps.length > 0);
});

test('one-node --smoke --profile', () => {
  // The harness only: per-thread CPU rows, a profile top list, the loop delay and the SQLite ceiling are there.
  const f = runSmoke('one-node', ['--profile']);
  const c = f.steps[0].cost;
  assert.ok(c.threads.some((t: { role: string }) => t.role === 'main') && c.threads.some((t: { role: string }) => t.role.startsWith('shard-')));
  assert.ok(c.profile.top.length > 0 && c.clientProfile.top.length > 0);
  assert.ok(c.loopDelay !== null);
  assert.ok(f.ceiling === null || f.ceiling.msgsPerSec > 0);
});

test('conn-memory --smoke', () => {
  const f = runSmoke('conn-memory'); // ws only in --smoke: Switchboard and bare uWS
  assert.equal(f.rows.length, 2);
  for (const r of f.rows) assert.equal(r.failed, 0, `${r.server} ${r.transport}: ${r.failed} failed`);
});

test('chat --smoke', () => {
  const f = runSmoke('chat');
  assert.ok(f.acked > 0 && f.delivered > 0);
});

test('soak --smoke', () => {
  const f = runSmoke('soak');
  assert.ok(f.switchboard.connections > 0);
  assert.ok(f.baselines.uws.connections > 0 && f.baselines.ws.connections > 0);
  assert.ok(f.timeline.length > 0);
});

test('soak --smoke --tls', () => {
  const f = runSmoke('soak', ['--tls'], 'soak-tls');
  assert.equal(f.transport, 'wss');
  assert.ok(f.switchboard.connections > 0 && f.switchboard.failed === 0);
  assert.ok(f.baselines.uws.connections > 0 && f.baselines.ws.connections > 0);
});

test('churn --smoke', () => {
  const f = runSmoke('churn');
  assert.ok(f.connects > 0);
});

test('storm --smoke', () => {
  const f = runSmoke('storm');
  assert.ok(f.connections > 0 && f.reconnects > 0);
});

test('echo --smoke', () => {
  const f = runSmoke('echo');
  assert.ok(f.uws.echoesPerSec > 0 && f.ws.echoesPerSec > 0 && f.switchboard.echoesPerSec > 0);
});

test('cross-node --smoke', () => {
  // A 3-node cell (etcd, Cassandra: the run's shared one, or a private one).
  const f = runSmoke('cross-node');
  for (const p of f.placements) assert.ok(p.acked > 0 && p.delivered > 0, `${p.placement}: acked ${p.acked}, delivered ${p.delivered}`);
});

test('group_fanout.ts --smoke', () => {
  // Not a cli.ts scenario: run the script itself (64 members, 1 s at 20 msg/s, open loop).
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'benchmarks/group_fanout.ts', '--smoke', '--out', out], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `group_fanout.ts --smoke exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  // The printed summary table: its header, a dashes line, then one row per step.
  const lines = r.stdout.split('\n');
  const h = lines.findIndex((l) => l.startsWith('msg/s') && l.includes('deliv/s'));
  assert.ok(h >= 0, `no summary table in\n${r.stdout}`);
  const header = lines[h].trim().split(/\s{2,}/);
  const row = lines[h + 2].trim().split(/\s{2,}/);
  const cell = (name: string): number => Number(row[header.indexOf(name)].replace(/,/g, ''));
  assert.ok(cell('deliv/s') > 0, `deliveries/s in ${lines[h + 2]}`);
  assert.equal(cell('lost'), 0, `lost messages in ${lines[h + 2]}`);
  const dir = readdirSync(out).filter((d) => d.endsWith('-group-fanout')).sort().at(-1);
  assert.ok(dir && existsSync(path.join(out, dir, 'report.html')), 'result.json and report.html written');
  const res = JSON.parse(readFileSync(path.join(out, dir, 'result.json'), 'utf8'));
  assert.ok(res.machine.loadAvg1m >= 0 && res.figures.steps[0].deliveries > 0);
});

test('durable_floor.ts --smoke', () => {
  // The node beside the durable floor (baselines/durable_chat.ts): one short step against each.
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'benchmarks/durable_floor.ts', '--smoke', '--out', out], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `durable_floor.ts --smoke exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  const dir = readdirSync(out).filter((d) => d.endsWith('-durable-floor')).sort().at(-1);
  assert.ok(dir && existsSync(path.join(out, dir, 'report.html')), 'result.json and report.html written');
  const res = JSON.parse(readFileSync(path.join(out, dir, 'result.json'), 'utf8'));
  for (const target of ['floor', 'node']) {
    const row = res.figures.rows.find((x: { target: string }) => x.target === target);
    assert.ok(row, `a step against the ${target}`);
    assert.ok(row.durable > 0 && row.serverUsPerMsg > 0, `${target}: ${JSON.stringify(row)}`);
    assert.equal(row.lost, 0, `${target} lost messages`);
    assert.ok(row.loopMaxMs >= 0, `${target}: its loop delay was read from /metrics`);
  }
});

test.after(() => rmSync(out, { recursive: true, force: true }));
