/**
 * The node beside the floor (issue 14): the same open-loop 1:1 load (the prepared-frame
 * client, chat/fast_loop.ts) against the node and against the least a durable chat
 * server does per message (baselines/durable_chat.ts: one uWS thread, the node's
 * SQLite store thread, ack after the commit), alternating the two in rounds so the
 * box's drifting load hits both alike. CPU is each server process's whole /proc time
 * (every thread), per acked message; the client's is its own process.cpuUsage().
 *
 *   node --import tsx benchmarks/durable_floor.ts [--rates 2000,8000] [--duration 8] [--warmup 15] [--rounds 2] [--pairs 50]
 *       [--node-config JSON] [--compare-config JSON]
 *
 * --node-config: config deep-merged over the bench node's. --compare-config: a third
 * target, the node with this config merged over that, in the same rounds (an A/B of a
 * setting, each side read against the same floor).
 *
 * What it answers: how much of the node's CPU per message is the product (its layers,
 * limits, threads) and how much any server keeping the same promise pays on this box.
 * The ratio node / floor per rate is the figure to compare across runs and boxes.
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { bool, checkKnown, num, parseFlags, seconds, str } from '../ops/lib/args.js';
import { mainThreadCpuUs, processCpuUs } from './lib/proc_cpu.js';
import { startBaseline } from './lib/baseline_server.js';
import { startBenchNode, minter } from './lib/bench_node.js';
import { openFastPairs, closeFastPairs } from './chat/fast_pairs.js';
import { FastOpenLoop } from './chat/fast_loop.js';
import type { Progress } from './chat/open_loop.js';
import { finishRun, startRun } from './lib/run_output.js';
import { fmt } from './lib/table.js';
import { scrapeNode } from './lib/node_metrics.js';
import { merge } from '../node/config.js';

const FLAGS = ['rates', 'duration', 'warmup', 'rounds', 'pairs', 'node-config', 'compare-config', 'smoke', 'out'];
const argv = process.argv.slice(2);
const flags = parseFlags(argv);
checkKnown(flags, FLAGS);
const smoke = bool(flags, 'smoke');
const cfg = {
  rates: str(flags, 'rates', smoke ? '200' : '2000,8000').split(',').filter(Boolean).map(Number),
  durationSec: seconds(flags, 'duration', smoke ? 1 : 8),
  // 15 s, as one-node: V8 compiles the hot code of each isolate for 10-20 s.
  warmupSec: seconds(flags, 'warmup', smoke ? 0 : 15),
  // 2 rounds: each target twice, alternating, for a first look at the spread.
  rounds: num(flags, 'rounds', smoke ? 1 : 2),
  // 50 pairs, as one-node: 100 sockets, a few dozen messages per socket per second.
  pairs: num(flags, 'pairs', smoke ? 5 : 50),
  nodeConfig: JSON.parse(str(flags, 'node-config', '{}')) as Record<string, unknown>,
  compareConfig: flags.has('compare-config') ? (JSON.parse(str(flags, 'compare-config', '{}')) as Record<string, unknown>) : null,
};
if (cfg.rates.some((r) => !(r > 0)) || cfg.durationSec <= 0 || cfg.rounds < 1 || cfg.pairs < 1) throw new Error('--rates, --duration, --rounds and --pairs must be positive');

type Target = 'floor' | 'node' | 'node+';
const TARGETS: Target[] = cfg.compareConfig ? ['floor', 'node', 'node+'] : ['floor', 'node'];
interface Row {
  round: number;
  target: Target;
  rate: number;
  durable: number;
  serverUsPerMsg: number;
  /** Of which the process's main thread (the floor's uWS thread; the node's host loop). */
  mainUsPerMsg: number;
  clientUsPerMsg: number;
  ackP50Ms: number;
  ackP99Ms: number;
  /** The main loop's longest block in the step and its p99 (2 ms sampling, both targets alike); -1 unknown. */
  loopMaxMs: number;
  loopP99Ms: number;
  lost: number;
  load1m: number;
}

const { startedAt, machine } = startRun();
console.log(`durable floor: ${cfg.pairs} pairs, ${cfg.rates.join(', ')} msg/s for ${cfg.durationSec} s each, ${cfg.rounds} round(s) of ${TARGETS.join(', ')}, ${cfg.warmupSec} s warm-up each`);
const rows: Row[] = [];
/** Ack latency by percentile, the last round's step of each target and rate (for the report's plot). */
const curves = new Map<string, Array<[number, number]>>();
const DRAIN_MS = 10_000;

async function measure(target: Target, round: number): Promise<void> {
  const secret = randomBytes(32).toString('base64url');
  const server =
    target === 'floor'
      ? await startBaseline('durable').then((b) => ({ ...b, httpUrl: b.url.replace(/^ws/, 'http').replace(/\/$/, '') }))
      : await startBenchNode({ secret, config: target === 'node+' ? merge(cfg.nodeConfig, cfg.compareConfig!) as Record<string, unknown> : cfg.nodeConfig }).then((n) => ({ url: n.url, httpUrl: n.httpUrl, proc: n.proc, stop: () => n.stop() }));
  const pid = server.proc.pid!;
  const tag = `f${randomBytes(3).toString('hex')}`;
  const pairs = await openFastPairs({ url: server.url, pairs: cfg.pairs, tag, token: minter(secret), bodyBytes: 100 });
  try {
    const chat = new FastOpenLoop(pairs);
    // One line a second while a step runs (the warm-up included): a long run shows it is alive.
    const progress = (what: string) => (p: Progress): void => console.log(`    ${what} t=${p.tSec}s sent ${fmt(p.sent)} acked ${fmt(p.acked)} delivered ${fmt(p.delivered)} errors ${p.errors}`);
    if (cfg.warmupSec > 0) {
      console.log(`  round ${round} ${target}: warm-up ${fmt(cfg.rates[0])} msg/s for ${cfg.warmupSec} s (not recorded)`);
      await chat.run({ rate: cfg.rates[0], durationSec: cfg.warmupSec, drainMs: DRAIN_MS, onSecond: progress('warm-up') });
    }
    for (const rate of cfg.rates) {
      await new Promise((r) => setTimeout(r, 1000));
      await scrapeNode(server.httpUrl); // resets the loop-delay histogram
      const s0 = processCpuUs(pid) ?? 0;
      const m0 = mainThreadCpuUs(pid) ?? 0;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const r = await chat.run({ rate, durationSec: cfg.durationSec, drainMs: DRAIN_MS, onSecond: progress(`${fmt(rate)} msg/s`) });
      const c = process.cpuUsage(c0);
      const serverUs = (processCpuUs(pid) ?? 0) - s0;
      const mainUs = (mainThreadCpuUs(pid) ?? 0) - m0;
      const loop = (await scrapeNode(server.httpUrl))?.loopDelay ?? null;
      const row: Row = {
        round,
        target,
        rate,
        durable: Math.round(r.durableRate),
        serverUsPerMsg: r.acked ? serverUs / r.acked : 0,
        mainUsPerMsg: r.acked ? mainUs / r.acked : 0,
        clientUsPerMsg: r.sent ? (c.user + c.system) / r.sent : 0,
        ackP50Ms: r.ack.p50Ms,
        ackP99Ms: r.ack.p99Ms,
        loopMaxMs: loop?.maxMs ?? -1,
        loopP99Ms: loop?.p99Ms ?? -1,
        lost: r.unacked + r.undelivered,
        load1m: Number(loadavg()[0].toFixed(2)),
      };
      rows.push(row);
      curves.set(`${target} ${fmt(rate)} msg/s`, r.ackCurve);
      console.log(`  round ${round} ${target.padEnd(5)} ${fmt(rate)} msg/s: server ${fmt(row.serverUsPerMsg)} µs/msg (main thread ${fmt(row.mainUsPerMsg)}), client ${fmt(row.clientUsPerMsg)} µs/msg, ack p50 ${fmt(row.ackP50Ms)} / p99 ${fmt(row.ackP99Ms)} ms, main loop p99 ${fmt(row.loopP99Ms)} / max ${fmt(row.loopMaxMs)} ms, ${row.lost} lost (${fmt(performance.now() - t0)} ms, load ${row.load1m})`);
    }
  } finally {
    closeFastPairs(pairs);
    await server.stop();
  }
}

for (let round = 1; round <= cfg.rounds; round++) {
  for (const target of TARGETS) await measure(target, round);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const summary = cfg.rates.map((rate) => {
  const of = (t: Target): Row[] => rows.filter((r) => r.rate === rate && r.target === t);
  const floor = median(of('floor').map((r) => r.serverUsPerMsg));
  const node = median(of('node').map((r) => r.serverUsPerMsg));
  const plus = cfg.compareConfig ? median(of('node+').map((r) => r.serverUsPerMsg)) : null;
  // Per round, each node step over the floor step next to it: the box's drift cancels.
  const ratios = (t: Target): number[] => of(t).map((r) => r.serverUsPerMsg / (of('floor').find((f) => f.round === r.round)?.serverUsPerMsg ?? NaN));
  return {
    rate,
    floorUsPerMsg: floor,
    nodeUsPerMsg: node,
    ratio: median(ratios('node')),
    ...(plus !== null ? { comparedUsPerMsg: plus, comparedRatio: median(ratios('node+')) } : {}),
    lost: rows.filter((r) => r.rate === rate).reduce((a, r) => a + r.lost, 0),
  };
});
const failed = rows.some((r) => r.lost > 0);

finishRun({
  scenario: 'durable-floor',
  startedAt,
  machine,
  argv: ['node', 'benchmarks/durable_floor.ts', ...argv],
  flags,
  config: cfg,
  figures: { rows, summary },
  tables: [
    {
      title: `Server CPU per durable message (µs, whole process from /proc), median of the rounds; node / floor: median of each round's ratio${cfg.compareConfig ? `; node+ = node with ${JSON.stringify(cfg.compareConfig)}` : ''}`,
      header: ['msg/s', 'floor µs/msg', 'node µs/msg', 'node / floor', ...(cfg.compareConfig ? ['node+ µs/msg', 'node+ / floor'] : []), 'lost'],
      rows: summary.map((s) => [fmt(s.rate), fmt(s.floorUsPerMsg), fmt(s.nodeUsPerMsg), s.ratio.toFixed(2), ...(s.comparedUsPerMsg !== undefined ? [fmt(s.comparedUsPerMsg), (s.comparedRatio ?? 0).toFixed(2)] : []), s.lost]),
    },
    {
      title: 'Every step',
      header: ['round', 'target', 'msg/s', 'durable/s', 'server µs/msg', 'main thread', 'client µs/msg', 'ack p50 ms', 'ack p99 ms', 'loop p99 ms', 'loop max ms', 'lost', 'load1m'],
      rows: rows.map((r) => [r.round, r.target, fmt(r.rate), fmt(r.durable), fmt(r.serverUsPerMsg), fmt(r.mainUsPerMsg), fmt(r.clientUsPerMsg), fmt(r.ackP50Ms), fmt(r.ackP99Ms), fmt(r.loopP99Ms), fmt(r.loopMaxMs), r.lost, r.load1m]),
    },
  ],
  charts: [
    {
      title: 'server CPU per durable message by rate (median of the rounds)',
      xLabel: 'msg/s',
      yLabel: 'µs per message',
      series: [
        { label: 'floor', points: summary.map((x) => [x.rate, x.floorUsPerMsg] as [number, number]) },
        { label: 'node', points: summary.map((x) => [x.rate, x.nodeUsPerMsg] as [number, number]) },
        ...(cfg.compareConfig ? [{ label: 'node+', points: summary.map((x) => [x.rate, x.comparedUsPerMsg ?? 0] as [number, number]) }] : []),
      ],
    },
    { title: 'send -> ack latency by percentile (last round)', xLabel: 'percentile', yLabel: 'ms', xKind: 'nines', logY: true, series: [...curves].map(([label, points]) => ({ label, points })) },
  ],
  notes: [
    'floor = benchmarks/baselines/durable_chat.ts: one uWS thread and the node\'s SQLite store thread, same rows, synchronous=FULL, a 5 ms group commit, ack after the commit; no auth check, limits, dedup, receipts, presence, metrics or host/shard split.',
  ],
});
if (failed) process.exitCode = 1;
