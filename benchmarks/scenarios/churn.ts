/**
 * `bench churn`: connect (token check, welcome) and disconnect at a fixed rate,
 * open loop. Measures connect->welcome latency from the scheduled time, failures by
 * cause, and whether node RSS comes back (a leak shows as RSS that only climbs).
 */
import { randomBytes } from 'node:crypto';
import { bool, checkKnown, num, type Flags, seconds } from '../../ops/lib/args.js';
import { startNodes } from '../lib/nodes.js';
import { WorkerPool, split } from '../loadgen/pool.js';
import { Latency } from '../lib/latency.js';
import { fmt } from '../lib/table.js';
import { startRun, finishRun } from '../lib/run_output.js';

const FLAGS = ['rate', 'duration', 'workers', 'max-inflight', 'smoke', 'out'];

export async function runChurn(flags: Flags, argv: string[]): Promise<string> {
  checkKnown(flags, FLAGS);
  const smoke = bool(flags, 'smoke');
  const cfg = {
    rate: num(flags, 'rate', smoke ? 20 : 200),
    durationSec: seconds(flags, 'duration', smoke ? 2 : 15),
    workers: num(flags, 'workers', 1),
    maxInflight: num(flags, 'max-inflight', 1000),
  };
  if (cfg.durationSec > 600) throw new Error('--duration is capped at 600 s');
  const { startedAt, machine } = startRun();
  console.log(`churn: ${fmt(cfg.rate)} connects/s for ${cfg.durationSec} s from ${cfg.workers} client process(es)`);
  const running = await startNodes(1);
  const w = running.watchers[0];
  const rates = split(cfg.rate, cfg.workers);
  const pool = WorkerPool.start(rates.map((rate) => ({ kind: 'churn' as const, urls: running.urls, rate, durationMs: cfg.durationSec * 1000, maxInflight: cfg.maxInflight })), running.secret, `u${randomBytes(3).toString('hex')}`);
  const lat = new Latency();
  let figures: Record<string, unknown>;
  try {
    await pool.until(() => pool.allReady(), { timeoutMs: 30_000, what: 'workers' });
    const mark = w.mark();
    pool.broadcast({ t: 'go' });
    let prev = 0;
    await pool.until(() => pool.allDone(), {
      timeoutMs: cfg.durationSec * 1000 + 45_000,
      what: 'churn run',
      tick: () => {
        const p = pool.total();
        console.log(`  connects ${fmt(p.connects)} (+${fmt(p.connects - prev)}/s) failed ${p.failed}  node rss ${fmt((w.latest?.rssBytes ?? 0) / 2 ** 20)} MiB cpu ${w.cpuNow}%`);
        prev = p.connects;
      },
    });
    const rs = pool.doneResults();
    for (const r of rs) lat.addEncoded(r.histograms.connect);
    const errors: Record<string, number> = {};
    for (const r of rs) for (const [k, v] of Object.entries(r.errorsByCode)) errors[k] = (errors[k] ?? 0) + v;
    const connects = rs.reduce((a, r) => a + r.progress.connects, 0);
    figures = {
      connects,
      failed: rs.reduce((a, r) => a + r.progress.failed, 0),
      connectsPerSec: connects / (Math.max(...rs.map((r) => r.elapsedMs)) / 1000),
      connectToWelcome: lat.summary(),
      errors,
      server: w.since(mark),
      serverTimeline: w.timeline,
    };
  } finally {
    pool.stop();
    await running.stop();
  }
  const c = figures.connectToWelcome as ReturnType<Latency['summary']>;
  const s = figures.server as { cpuPct: number; rssStartMiB: number; rssEndMiB: number } | null;
  return finishRun({
    scenario: 'churn',
    startedAt,
    machine,
    argv,
    flags,
    config: cfg,
    figures,
    tables: [{ title: 'Connect/disconnect churn (connect->welcome ms from the scheduled time)', header: ['target/s', 'connects', 'failed', 'connects/s', 'p50', 'p99', 'max', 'node cpu%', 'RSS start MiB', 'RSS end MiB'], rows: [[cfg.rate, figures.connects as number, figures.failed as number, figures.connectsPerSec as number, c.p50Ms, c.p99Ms, c.maxMs, s?.cpuPct ?? -1, s?.rssStartMiB ?? -1, s?.rssEndMiB ?? -1]] }],
    charts: [
      { title: 'connect -> welcome by percentile', xLabel: 'percentile', yLabel: 'ms', xKind: 'nines', logY: true, series: [{ label: 'connect', points: lat.curve() }] },
      { title: 'Node RSS over time', xLabel: 's', yLabel: 'MiB', series: [{ label: 'RSS', points: w.timeline.map((p) => [p.tSec, p.rssMiB]) }] },
    ],
  });
}
