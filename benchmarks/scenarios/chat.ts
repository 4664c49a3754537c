/**
 * `bench chat`: stage 1's open-loop 1:1 chat, distributed over worker processes (each
 * with its own pairs, source address and share of the rate) so the load generator is
 * not one event loop. Histograms are merged exactly (HDR add).
 */
import { randomBytes } from 'node:crypto';
import { bool, checkKnown, num, type Flags, seconds } from '../../ops/lib/args.js';
import { startNodes } from '../lib/nodes.js';
import { WorkerPool, split } from '../loadgen/pool.js';
import { Latency } from '../lib/latency.js';
import { fmt } from '../lib/table.js';
import { startRun, finishRun } from '../lib/run_output.js';

const FLAGS = ['rate', 'duration', 'pairs', 'workers', 'body-bytes', 'drain', 'smoke', 'out'];

export async function runChat(flags: Flags, argv: string[]): Promise<string> {
  checkKnown(flags, FLAGS);
  const smoke = bool(flags, 'smoke');
  const cfg = {
    rate: num(flags, 'rate', smoke ? 200 : 2000),
    durationSec: seconds(flags, 'duration', smoke ? 2 : 20),
    pairs: num(flags, 'pairs', smoke ? 6 : 50),
    workers: num(flags, 'workers', 2),
    bodyBytes: num(flags, 'body-bytes', 100),
    drainMs: num(flags, 'drain', smoke ? 3 : 10) * 1000,
  };
  if (cfg.durationSec > 600) throw new Error('--duration is capped at 600 s');
  if (cfg.pairs < cfg.workers) throw new Error('--pairs must be at least --workers');
  const { startedAt, machine } = startRun();
  console.log(`chat: ${cfg.pairs} pairs over ${cfg.workers} client processes, ${fmt(cfg.rate)} msg/s for ${cfg.durationSec} s`);
  const running = await startNodes(1);
  const pairSlices = split(cfg.pairs, cfg.workers);
  const jobs = pairSlices.map((pairs) => ({ kind: 'chat' as const, urls: running.urls, pairs, rate: (cfg.rate * pairs) / cfg.pairs, durationSec: cfg.durationSec, drainMs: cfg.drainMs, bodyBytes: cfg.bodyBytes }));
  const pool = WorkerPool.start(jobs, running.secret, `c${randomBytes(3).toString('hex')}`);
  const w = running.watchers[0];
  let figures: Record<string, unknown>;
  let ack: Latency;
  let deliver: Latency;
  try {
    await pool.until(() => pool.allReady(), { timeoutMs: 60_000, what: 'pairs to open' });
    const mark = w.mark();
    pool.broadcast({ t: 'go' });
    let prev = pool.total();
    const t0 = Date.now();
    await pool.until(() => pool.allDone(), {
      timeoutMs: (cfg.durationSec + 60) * 1000 + cfg.drainMs,
      what: 'chat run',
      tick: () => {
        const p = pool.total();
        console.log(`  t=${String(Math.round((Date.now() - t0) / 1000)).padStart(3)}s sent ${fmt(p.sent)} (+${fmt(p.sent - prev.sent)}) acked ${fmt(p.acked)} (+${fmt(p.acked - prev.acked)}) delivered ${fmt(p.delivered)} errors ${p.errors}  node rss ${fmt((w.latest?.rssBytes ?? 0) / 2 ** 20)} MiB cpu ${w.cpuNow}%`);
        prev = p;
      },
    });
    const server = w.since(mark);
    const rs = pool.doneResults();
    ack = new Latency();
    deliver = new Latency();
    for (const r of rs) {
      ack.addEncoded(r.histograms.ack);
      deliver.addEncoded(r.histograms.deliver);
    }
    const errors: Record<string, number> = {};
    for (const r of rs) for (const [k, v] of Object.entries(r.chat?.errors ?? {})) errors[k] = (errors[k] ?? 0) + v;
    const sum = (f: (r: (typeof rs)[number]) => number): number => rs.reduce((a, r) => a + f(r), 0);
    figures = {
      sent: sum((r) => r.chat?.sent ?? 0),
      acked: sum((r) => r.chat?.acked ?? 0),
      delivered: sum((r) => r.chat?.delivered ?? 0),
      durableRate: sum((r) => r.chat?.durableRate ?? 0),
      ack: ack.summary(),
      deliver: deliver.summary(),
      errors,
      server,
      clientCpuPct: rs.map((r) => r.clientCpuPct),
      // CPU per durable message over the measured phase: the node from /proc, the client workers summed.
      nodeUsPerMsg: server && mark ? Math.round((((server.cpuPct / 100) * (Date.now() - t0)) / 1000 / Math.max(1, sum((r) => r.chat?.acked ?? 0))) * 1e7) / 10 : null,
      clientUsPerMsg: Math.round((sum((r) => r.measuredCpuSec ?? 0) / Math.max(1, sum((r) => r.chat?.acked ?? 0))) * 1e7) / 10,
      serverTimeline: w.timeline,
    };
  } finally {
    pool.stop();
    await running.stop();
  }
  const a = figures.ack as ReturnType<Latency['summary']>;
  const d = figures.deliver as ReturnType<Latency['summary']>;
  return finishRun({
    scenario: 'chat',
    startedAt,
    machine,
    argv,
    flags,
    config: cfg,
    figures,
    tables: [
      {
        title: 'Distributed open-loop chat (latency ms from the scheduled send time)',
        header: ['target/s', 'sent', 'acked', 'durable/s', 'ack p50', 'p99', 'p99.9', 'max', 'deliver p50', 'p99', 'p99.9', 'max', 'errors', 'node cpu%', 'node µs/msg', 'client µs/msg'],
        rows: [[cfg.rate, figures.sent as number, figures.acked as number, figures.durableRate as number, a.p50Ms, a.p99Ms, a.p999Ms, a.maxMs, d.p50Ms, d.p99Ms, d.p999Ms, d.maxMs, Object.values(figures.errors as object).reduce((x: number, y: number) => x + y, 0), (figures.server as { cpuPct: number } | null)?.cpuPct ?? -1, (figures.nodeUsPerMsg as number | null) ?? -1, figures.clientUsPerMsg as number]],
      },
    ],
    charts: [
      { title: 'Latency by percentile', xLabel: 'percentile', yLabel: 'ms', xKind: 'nines', logY: true, series: [{ label: 'send -> ack', points: ack!.curve() }, { label: 'send -> deliver', points: deliver!.curve() }] },
      { title: 'Node RSS over time', xLabel: 's', yLabel: 'MiB', series: [{ label: 'RSS', points: w.timeline.map((p) => [p.tSec, p.rssMiB]) }] },
    ],
  });
}
