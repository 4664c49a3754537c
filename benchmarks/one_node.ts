/**
 * `bench one-node`: one node (embedded SQLite, temp data dir; `--cassandra` for a
 * private local Cassandra with the node's commit-log defaults), N sender/recipient
 * pairs on their own connections (binary protobuf), open-loop 1:1 messages at a target
 * rate. Reports durable messages/s, send->ack and send->deliver percentiles, errors by
 * code, and the node's RSS and CPU. `--find-max` steps the rate up until p99 send->ack
 * passes a bound or throughput stops rising.
 *
 * The load generator runs in this one process, on the same 2 cores as the node; its
 * own CPU use is reported so a saturated client is visible.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { checkKnown, num, bool, str, type Flags, seconds } from '../ops/lib/args.js';
import { startBenchNode, minter } from './lib/bench_node.js';
import { openPairs, closePairs } from './chat/pairs.js';
import { OpenLoopChat, type StepResult } from './chat/open_loop.js';
import { ProcWatcher } from './lib/proc_stats.js';
import { machineInfo, resultDir, writeJson } from '../ops/lib/results.js';
import { table, fmt } from './lib/table.js';
import { writeReport } from '../ops/report/html.js';
import { storeCallsPerMessage, storeSnapshot, type StoreCallRow } from './lib/store_calls.js';
import { startPrivateCassandra, testKeyspace, type PrivateCassandra } from '../node/store/cassandra_test_env.js';
import { LOCAL_DATACENTER } from '../ops/cassandra/index.js';

export const ONE_NODE_FLAGS = ['rate', 'duration', 'pairs', 'body-bytes', 'drain', 'shards', 'find-max', 'max-p99', 'start-rate', 'step-factor', 'step-duration', 'max-rate', 'smoke', 'out', 'cassandra', 'writer-concurrency', 'warmup', 'unguarded'];

export interface OneNodeConfig {
  rate: number;
  durationSec: number;
  pairs: number;
  bodyBytes: number;
  drainMs: number;
  shards: number | null;
  findMax: boolean;
  maxP99Ms: number;
  startRate: number;
  stepFactor: number;
  stepDurationSec: number;
  maxRate: number;
  /** Run the node on a private Cassandra instead of SQLite. */
  cassandra: boolean;
  /** store.batch.concurrency for the node (0 = the node's default for the store). */
  writerConcurrency: number;
  /** Seconds of unrecorded load before the first step (a fresh JVM compiles for a while). */
  warmupSec: number;
  /** --unguarded: store.cassandra.guardSeqs false, to measure what the seq guard costs. */
  unguarded: boolean;
}

export function oneNodeConfig(flags: Flags): OneNodeConfig {
  checkKnown(flags, ONE_NODE_FLAGS);
  const smoke = bool(flags, 'smoke');
  const cfg: OneNodeConfig = {
    rate: num(flags, 'rate', smoke ? 200 : 2000),
    durationSec: seconds(flags, 'duration', smoke ? 2 : 20),
    pairs: num(flags, 'pairs', smoke ? 5 : 50),
    bodyBytes: num(flags, 'body-bytes', 100),
    drainMs: num(flags, 'drain', smoke ? 3 : 10) * 1000,
    shards: flags.has('shards') ? num(flags, 'shards', 1) : null,
    findMax: bool(flags, 'find-max'),
    maxP99Ms: num(flags, 'max-p99', 50),
    startRate: num(flags, 'start-rate', smoke ? 100 : 1000),
    stepFactor: num(flags, 'step-factor', 1.5),
    stepDurationSec: seconds(flags, 'step-duration', smoke ? 1 : 10),
    maxRate: num(flags, 'max-rate', smoke ? 300 : 100_000),
    cassandra: bool(flags, 'cassandra'),
    writerConcurrency: num(flags, 'writer-concurrency', 0),
    warmupSec: seconds(flags, 'warmup', bool(flags, 'cassandra') && !smoke ? 15 : 0),
    unguarded: bool(flags, 'unguarded'),
  };
  if (cfg.unguarded && !cfg.cassandra) throw new Error('--unguarded applies to --cassandra (SQLite refuses a taken seq in its transaction, at no extra round trip)');
  if (cfg.rate <= 0 || cfg.durationSec <= 0 || cfg.pairs < 1) throw new Error('--rate, --duration and --pairs must be positive');
  if (cfg.stepFactor <= 1) throw new Error('--step-factor must be > 1');
  // Every request loop is bounded: refuse runs longer than ten minutes of sending.
  if (cfg.durationSec > 600 || cfg.stepDurationSec > 600) throw new Error('--duration/--step-duration are capped at 600 s');
  return cfg;
}

export async function runOneNode(flags: Flags, argv: string[]): Promise<string> {
  const cfg = oneNodeConfig(flags);
  const startedAt = new Date();
  const machine = machineInfo();
  console.log(`one-node: ${cfg.pairs} pairs, ${cfg.findMax ? `find-max from ${cfg.startRate} msg/s x${cfg.stepFactor} (${cfg.stepDurationSec} s steps, p99 ack <= ${cfg.maxP99Ms} ms)` : `${cfg.rate} msg/s for ${cfg.durationSec} s`}`);
  console.log(`machine: ${machine.cpus} x ${machine.cpuModel}, ${machine.totalMemGiB} GiB, node ${machine.node}, load ${machine.loadAvg1m} (other work on the box makes figures noisy)`);

  let cassandra: PrivateCassandra | null = null;
  if (cfg.cassandra) {
    console.log(`starting a private Cassandra (jit full, commitlog batch); the node's seq guard is ${cfg.unguarded ? 'off (--unguarded)' : 'on'}...`);
    cassandra = await startPrivateCassandra({ jit: 'full' });
  }
  const store = cassandra
    ? {
        kind: 'cassandra',
        cassandra: {
          contactPoints: [cassandra.contactPoint],
          localDataCenter: LOCAL_DATACENTER,
          keyspace: testKeyspace('onenode'),
          consistency: 'one',
          migrateOnStart: true,
          guardSeqs: !cfg.unguarded,
        },
      }
    : {};
  const node = await startBenchNode({
    shards: cfg.shards ?? undefined,
    config: { store: { ...store, ...(cfg.writerConcurrency > 0 ? { batch: { concurrency: cfg.writerConcurrency } } : {}) } },
  });
  const watcher = new ProcWatcher(node.proc.pid!).start();
  const tag = `b${randomBytes(3).toString('hex')}`;
  let pairs: Awaited<ReturnType<typeof openPairs>> = [];
  const steps: StepRow[] = [];
  const perSecond: Array<{ step: number; tSec: number; sent: number; acked: number; delivered: number; errors: number; inflight: number; rssMiB: number; cpuPct: number }> = [];
  let maxSustainable: { rate: number; durableRate: number; ackP99Ms: number; deliverP99Ms: number } | null = null;
  let stopReason = '';
  try {
    const t = performance.now();
    pairs = await openPairs({ url: node.url, pairs: cfg.pairs, tag, token: minter(node.secret) });
    console.log(`connected ${cfg.pairs * 2} sockets in ${fmt(performance.now() - t)} ms; node RSS ${fmt((watcher.mark()?.rssBytes ?? 0) / 2 ** 20)} MiB`);
    const chat = new OpenLoopChat(pairs, tag, cfg.bodyBytes);

    const runStep = async (rate: number, durationSec: number): Promise<StepResult> => {
      const stepNo = steps.length + 1;
      const mark = watcher.mark();
      const store0 = await storeSnapshot(node.httpUrl);
      const cpu0 = process.cpuUsage();
      const w0 = performance.now();
      let prev = { sent: 0, acked: 0, delivered: 0 };
      const r = await chat.run({
        rate,
        durationSec,
        drainMs: cfg.drainMs,
        onSecond: (p) => {
          const s = watcher.latest;
          const rss = s ? s.rssBytes / 2 ** 20 : 0;
          console.log(
            `  [${stepNo}] t=${String(p.tSec).padStart(3)}s  sent ${fmt(p.sent)} (+${fmt(p.sent - prev.sent)})  acked ${fmt(p.acked)} (+${fmt(p.acked - prev.acked)})  delivered ${fmt(p.delivered)} (+${fmt(p.delivered - prev.delivered)})  errors ${p.errors}  inflight ${p.inflight}  node rss ${fmt(rss)} MiB cpu ${watcher.cpuNow}%`,
          );
          perSecond.push({ step: stepNo, ...p, rssMiB: Math.round(rss), cpuPct: watcher.cpuNow });
          prev = p;
        },
      });
      const cu = process.cpuUsage(cpu0);
      const clientCpuPct = Math.round(((cu.user + cu.system) / 1000 / (performance.now() - w0)) * 100);
      const storeCalls = storeCallsPerMessage(store0, await storeSnapshot(node.httpUrl), r.acked);
      if (storeCalls.length) console.log(`  store per durable message: ${storeCalls.map((c) => `${c.call} ${c.perMessage}${c.meanMs ? ` (${c.meanMs} ms)` : ''}`).join(', ')}`);
      steps.push({ ...r, server: watcher.since(mark), clientCpuPct, storeCalls });
      return r;
    };

    if (cfg.warmupSec > 0) {
      const rate = cfg.findMax ? cfg.startRate : cfg.rate;
      console.log(`warm-up: ${fmt(rate)} msg/s for ${cfg.warmupSec} s (not recorded)`);
      await chat.run({ rate, durationSec: cfg.warmupSec, drainMs: cfg.drainMs, onSecond: () => {} });
    }
    if (!cfg.findMax) {
      await runStep(cfg.rate, cfg.durationSec);
    } else {
      let rate = cfg.startRate;
      let prevDurable = 0;
      for (;;) {
        console.log(`step ${steps.length + 1}: ${fmt(rate)} msg/s for ${cfg.stepDurationSec} s`);
        const r = await runStep(rate, cfg.stepDurationSec);
        const errs = Object.values(r.errors).reduce((a, b) => a + b, 0);
        const kept = r.durableRate >= 0.95 * rate;
        const ok = r.ack.p99Ms <= cfg.maxP99Ms && kept && errs === 0;
        console.log(`  => durable ${fmt(r.durableRate)} msg/s, ack p99 ${fmt(r.ack.p99Ms)} ms, deliver p99 ${fmt(r.deliver.p99Ms)} ms, errors ${errs}: ${ok ? 'sustained' : 'NOT sustained'}`);
        if (ok) maxSustainable = { rate, durableRate: r.durableRate, ackP99Ms: r.ack.p99Ms, deliverP99Ms: r.deliver.p99Ms };
        if (!ok) {
          stopReason = r.ack.p99Ms > cfg.maxP99Ms ? `p99 send->ack ${fmt(r.ack.p99Ms)} ms > ${cfg.maxP99Ms} ms at ${fmt(rate)} msg/s` : !kept ? `throughput ${fmt(r.durableRate)} < 95% of ${fmt(rate)} msg/s` : `${errs} errors at ${fmt(rate)} msg/s`;
          break;
        }
        if (prevDurable > 0 && r.durableRate < prevDurable * 1.02) {
          stopReason = `throughput stopped rising (${fmt(prevDurable)} -> ${fmt(r.durableRate)} msg/s)`;
          break;
        }
        const nextRate = Math.round(rate * cfg.stepFactor);
        if (nextRate > cfg.maxRate) {
          stopReason = `reached --max-rate ${cfg.maxRate}`;
          break;
        }
        prevDurable = r.durableRate;
        rate = nextRate;
        await new Promise((r2) => setTimeout(r2, 1000)); // let the store settle between steps
      }
    }
  } finally {
    closePairs(pairs);
    watcher.stop();
    await node.stop();
    node.cleanup();
    await cassandra?.destroy();
  }

  printSummary(steps, cfg, maxSustainable, stopReason);
  const dir = resultDir(cfg.findMax ? 'one-node-find-max' : 'one-node', startedAt, flags.has('out') ? path.resolve(str(flags, 'out', '')) : undefined);
  const envelope = {
    scenario: cfg.findMax ? 'one-node --find-max' : 'one-node',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    command: argv.join(' '),
    machine,
    config: { ...cfg, encoding: 'proto', store: cfg.cassandra ? `cassandra (private local node, CL ONE, commitlog batch, guardSeqs ${!cfg.unguarded})` : 'sqlite (embedded)', writerConcurrency: cfg.writerConcurrency || 'node default', connections: cfg.pairs * 2, clientProcesses: 1 },
    figures: { steps, maxSustainable, stopReason: stopReason || null, perSecond, serverTimeline: watcher.timeline },
  };
  writeJson(path.join(dir, 'result.json'), envelope);
  writeReport(path.join(dir, 'report.html'), {
    title: `Switchboard ${envelope.scenario}`,
    envelope,
    tables: [summaryTable(steps)],
    charts: [
      { title: 'send -> ack latency by percentile', xLabel: 'percentile', yLabel: 'ms', xKind: 'nines', logY: true, series: steps.map((s) => ({ label: `${fmt(s.targetRate)} msg/s`, points: s.ackCurve })) },
      { title: 'send -> deliver latency by percentile', xLabel: 'percentile', yLabel: 'ms', xKind: 'nines', logY: true, series: steps.map((s) => ({ label: `${fmt(s.targetRate)} msg/s`, points: s.deliverCurve })) },
      { title: 'node RSS over time', xLabel: 's', yLabel: 'MiB', series: [{ label: 'RSS', points: watcher.timeline.map((p) => [p.tSec, p.rssMiB]) }] },
      { title: 'node CPU over time (100 = one core)', xLabel: 's', yLabel: '%', series: [{ label: 'CPU', points: watcher.timeline.map((p) => [p.tSec, p.cpuPct]) }] },
    ],
  });
  console.log(`\nresult: ${path.relative(process.cwd(), dir)}/result.json  (report.html beside it)`);
  return dir;
}

type StepRow = StepResult & { server: { cpuPct: number; rssEndMiB: number; rssPeakMiB: number } | null; clientCpuPct: number; storeCalls: StoreCallRow[] };

const SUMMARY_HEADER = ['target/s', 'sent', 'acked', 'durable/s', 'ack p50', 'p90', 'p99', 'p99.9', 'max', 'deliver p50', 'p90', 'p99', 'p99.9', 'max', 'errors', 'node cpu%', 'node rss MiB', 'client cpu%'];

function summaryRows(steps: StepRow[]): Array<Array<string | number>> {
  return steps.map((s) => [
    s.targetRate, s.sent, s.acked, s.durableRate,
    s.ack.p50Ms, s.ack.p90Ms, s.ack.p99Ms, s.ack.p999Ms, s.ack.maxMs,
    s.deliver.p50Ms, s.deliver.p90Ms, s.deliver.p99Ms, s.deliver.p999Ms, s.deliver.maxMs,
    Object.values(s.errors).reduce((a, b) => a + b, 0),
    s.server?.cpuPct ?? -1, s.server?.rssEndMiB ?? -1, s.clientCpuPct,
  ]);
}

function summaryTable(steps: StepRow[]): { title: string; header: string[]; rows: Array<Array<string | number>> } {
  return { title: 'Steps (latencies in ms from the scheduled send time)', header: SUMMARY_HEADER, rows: summaryRows(steps) };
}

function printSummary(steps: StepRow[], cfg: OneNodeConfig, max: { rate: number; durableRate: number } | null, stopReason: string): void {
  console.log('');
  console.log(table(SUMMARY_HEADER, summaryRows(steps)));
  console.log('(latencies in ms, measured from the scheduled send time; cpu% is of one core, 200% = both cores)');
  for (const [i, s] of steps.entries()) {
    const errs = Object.entries(s.errors);
    if (errs.length) console.log(`errors in step ${i + 1}: ${errs.map(([k, v]) => `${k}=${v}`).join(' ')}`);
    if (s.scheduleLag.p99Ms > 5) console.log(`step ${i + 1}: the load generator ran late (schedule lag p99 ${fmt(s.scheduleLag.p99Ms)} ms): it is CPU-bound; latencies include that`);
  }
  if (cfg.findMax) console.log(`max sustainable: ${max ? `${fmt(max.durableRate)} durable msg/s (target ${fmt(max.rate)})` : 'none of the steps met the bound'}; stopped: ${stopReason}`);
}
