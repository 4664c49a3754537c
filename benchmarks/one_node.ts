/**
 * `bench one-node`: one node (embedded SQLite, temp data dir; `--cassandra` for a
 * private local Cassandra with the node's commit-log defaults), N sender/recipient
 * pairs on their own connections (binary protobuf), open-loop 1:1 messages at a target
 * rate. Reports durable messages/s, send->ack and send->deliver percentiles, errors by
 * code, and the node's RSS and CPU. `--find-max` steps the rate up until p99 send->ack
 * passes a bound or throughput stops rising.
 *
 * The load generator runs in this one process, on the same 2 cores as the node. It
 * writes prepared frames and peeks replies (chat/fast_loop.ts) so it costs far less
 * than the node per message; `--legacy-client` runs the old `ws` + protobuf-es client
 * instead, for comparison. Every step reports CPU per durable message for the node
 * (per thread role, from /proc) and for the client, the host main loop's delay
 * (p50/p99/max) and messages per store commit; `--profile` adds the node's top
 * self-time functions (V8 sampling profiler in every thread, over the step only).
 * After the load, the raw SQLite ceiling (the node's own store, closed loop, at the
 * rows per commit the node reached) is measured and the node's rate given as a ratio.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { checkKnown, num, bool, str, type Flags, seconds } from '../ops/lib/args.js';
import { startBenchNode, minter } from './lib/bench_node.js';
import { merge } from '../node/config.js';
import { openPairs, closePairs } from './chat/pairs.js';
import { OpenLoopChat, type StepResult, type StepOptions } from './chat/open_loop.js';
import { openFastPairs, closeFastPairs } from './chat/fast_pairs.js';
import { FastOpenLoop } from './chat/fast_loop.js';
import { NodeProbe } from './lib/node_probe.js';
import { StepMeter, type StepCost } from './lib/step_meter.js';
import { sqliteCeiling, type CeilingResult } from './lib/sqlite_ceiling.js';
import { printSteps, stepCharts, stepTables, type StepRow } from './lib/one_node_report.js';
import { ProcWatcher } from './lib/proc_stats.js';
import { machineInfo, resultDir, writeJson } from '../ops/lib/results.js';
import { fmt } from './lib/table.js';
import { writeReport } from '../ops/report/html.js';
import { storeCallsPerMessage, storeSnapshot } from './lib/store_calls.js';
import { startPrivateCassandra, testKeyspace, type PrivateCassandra } from '../node/store/cassandra_test_env.js';
import { LOCAL_DATACENTER } from '../ops/cassandra/index.js';

export const ONE_NODE_FLAGS = ['rate', 'duration', 'pairs', 'body-bytes', 'drain', 'shards', 'find-max', 'max-p99', 'start-rate', 'step-factor', 'step-duration', 'max-rate', 'smoke', 'out', 'cassandra', 'writer-concurrency', 'warmup', 'unguarded', 'profile', 'legacy-client', 'compare-clients', 'rounds', 'ceiling-seconds', 'rates', 'node-config'];

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
  /** Seconds of unrecorded load before the first step (V8's JIT, and a fresh JVM, compile for a while). */
  warmupSec: number;
  /** --unguarded: store.cassandra.guardSeqs false, to measure what the seq guard costs. */
  unguarded: boolean;
  /** Sample the node's threads with the V8 profiler during each step and print the top functions. */
  profile: boolean;
  /** The old ws + protobuf-es client instead of the prepared-frame one (to compare their cost). */
  legacyClient: boolean;
  /** Both clients on their own pairs, one step each at --rate, prepared-frame first: their costs compared in one run. */
  compareClients: boolean;
  /** --compare-clients: alternating rounds (one step per client each). */
  rounds: number;
  /** --rates 1000,2000,4000: one --duration step at each rate, whatever the latency (CPU per message as a function of rate). */
  rates: number[];
  /** Seconds of the raw SQLite ceiling run after the load (0: skip; always skipped on Cassandra). */
  ceilingSec: number;
  /** --node-config '{"store":{"batch":{"maxDelayMs":5}}}': JSON deep-merged over the bench's node config (to compare settings in one session). */
  nodeConfig: Record<string, unknown>;
}

function parseNodeConfig(text: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new Error(`--node-config: not JSON (${(err as Error).message})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('--node-config: a JSON object of config keys, e.g. {"store":{"batch":{"maxDelayMs":5}}}');
  return v as Record<string, unknown>;
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
    // 15 s of unrecorded load before the first step, on SQLite too: V8 keeps compiling the
    // node's hot code in each of its isolates (host, shards, store thread) for 10-20 s;
    // three 2,000 msg/s steps after a 5 s warm-up read 239, 188, 180 µs per message, the
    // first with 31 µs of it in the compiler threads. A fresh JVM (Cassandra) needs it too.
    warmupSec: seconds(flags, 'warmup', smoke ? 0 : 15),
    unguarded: bool(flags, 'unguarded'),
    profile: bool(flags, 'profile'),
    legacyClient: bool(flags, 'legacy-client'),
    compareClients: bool(flags, 'compare-clients'),
    rounds: num(flags, 'rounds', smoke ? 1 : 3),
    rates: str(flags, 'rates', '').split(',').filter(Boolean).map(Number),
    ceilingSec: num(flags, 'ceiling-seconds', smoke ? 1 : 5),
    nodeConfig: parseNodeConfig(str(flags, 'node-config', '{}')),
  };
  if (cfg.unguarded && !cfg.cassandra) throw new Error('--unguarded applies to --cassandra (SQLite refuses a taken seq in its transaction, at no extra round trip)');
  if (cfg.compareClients && (cfg.findMax || cfg.legacyClient)) throw new Error('--compare-clients runs one step per client at --rate: not with --find-max or --legacy-client');
  if (cfg.rates.some((r) => !(r > 0))) throw new Error('--rates: a comma-separated list of positive msg/s');
  if (cfg.rates.length && (cfg.findMax || cfg.compareClients)) throw new Error('--rates is its own sweep: not with --find-max or --compare-clients');
  if (cfg.rate <= 0 || cfg.durationSec <= 0 || cfg.pairs < 1) throw new Error('--rate, --duration and --pairs must be positive');
  if (cfg.stepFactor <= 1) throw new Error('--step-factor must be > 1');
  // Every request loop is bounded: refuse runs longer than ten minutes of sending.
  if (cfg.durationSec > 600 || cfg.stepDurationSec > 600) throw new Error('--duration/--step-duration are capped at 600 s');
  return cfg;
}

export async function runOneNode(flags: Flags, argv: string[]): Promise<string> {
  const cfg = oneNodeConfig(flags);
  const startedAt = new Date();
  /** The result directory (created on first use; --profile keeps its .cpuprofile files there). */
  const outDir = (): string => resultDir(cfg.findMax ? 'one-node-find-max' : 'one-node', startedAt, flags.has('out') ? path.resolve(str(flags, 'out', '')) : undefined);
  const machine = machineInfo();
  console.log(`one-node: ${cfg.pairs} pairs, ${cfg.findMax ? `find-max from ${cfg.startRate} msg/s x${cfg.stepFactor} (${cfg.stepDurationSec} s steps, p99 ack <= ${cfg.maxP99Ms} ms)` : cfg.rates.length ? `${cfg.rates.join(', ')} msg/s, ${cfg.durationSec} s each` : `${cfg.rate} msg/s for ${cfg.durationSec} s`}`);
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
  // The probe is inert until a command is sent; it names the node's threads for the per-thread CPU figures.
  const probe = new NodeProbe();
  const node = await startBenchNode({
    shards: cfg.shards ?? undefined,
    config: merge({ store: { ...store, ...(cfg.writerConcurrency > 0 ? { batch: { concurrency: cfg.writerConcurrency } } : {}) } }, cfg.nodeConfig) as Record<string, unknown>,
    env: probe.env(),
  });
  const watcher = new ProcWatcher(node.proc.pid!).start();
  const tag = `b${randomBytes(3).toString('hex')}`;
  let close = (): void => {};
  const steps: StepRow[] = [];
  const perSecond: Array<{ step: number; tSec: number; sent: number; acked: number; delivered: number; errors: number; inflight: number; rssMiB: number; cpuPct: number }> = [];
  let maxSustainable: { rate: number; durableRate: number; ackP99Ms: number; deliverP99Ms: number } | null = null;
  let stopReason = '';
  const compare: Partial<Record<'prepared-frame' | 'legacy', number>> = {};
  try {
    const t = performance.now();
    type Chat = { run(o: StepOptions): Promise<StepResult> };
    const closers: Array<() => void> = [];
    close = () => closers.forEach((c) => c());
    const legacy = async (): Promise<Chat> => {
      const pairs = await openPairs({ url: node.url, pairs: cfg.pairs, tag: `${tag}l`, token: minter(node.secret) });
      closers.push(() => closePairs(pairs));
      return new OpenLoopChat(pairs, `${tag}l`, cfg.bodyBytes);
    };
    const fast = async (): Promise<Chat> => {
      const pairs = await openFastPairs({ url: node.url, pairs: cfg.pairs, tag, token: minter(node.secret), bodyBytes: cfg.bodyBytes });
      closers.push(() => closeFastPairs(pairs));
      return new FastOpenLoop(pairs);
    };
    let chat: Chat = cfg.legacyClient ? await legacy() : await fast();
    const other: Chat | null = cfg.compareClients ? await legacy() : null;
    console.log(`connected ${cfg.pairs * 2} sockets (${cfg.legacyClient ? 'legacy ws + protobuf-es client' : 'prepared-frame client'}) in ${fmt(performance.now() - t)} ms; node RSS ${fmt((watcher.mark()?.rssBytes ?? 0) / 2 ** 20)} MiB`);
    const meter = new StepMeter(node.proc.pid!, node.httpUrl, probe, cfg.profile, undefined, cfg.profile ? outDir() : null);

    const runStep = async (rate: number, durationSec: number): Promise<StepResult> => {
      const stepNo = steps.length + 1;
      const mark = watcher.mark();
      const store0 = await storeSnapshot(node.httpUrl);
      await meter.begin();
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
      const cost: StepCost = await meter.end(r.acked, r.sent);
      const storeCalls = storeCallsPerMessage(store0, await storeSnapshot(node.httpUrl), r.acked);
      if (storeCalls.length) console.log(`  store per durable message: ${storeCalls.map((c) => `${c.call} ${c.perMessage}${c.meanMs ? ` (${c.meanMs} ms)` : ''}`).join(', ')}`);
      console.log(`  cpu per durable message: node ${fmt(cost.nodeUsPerMsg)} µs (${cost.threads.map((x) => `${x.role}${x.threads > 1 ? `x${x.threads}` : ''} ${fmt(x.usPerMsg)}`).join(', ')}), client ${fmt(cost.clientUsPerMsg)} µs per sent message; main loop delay p50 ${fmt(cost.loopDelay?.p50Ms ?? -1)} / p99 ${fmt(cost.loopDelay?.p99Ms ?? -1)} / max ${fmt(cost.loopDelay?.maxMs ?? -1)} ms (main waited ${fmt(cost.threads.find((x) => x.role === 'main')?.waitMsPerSec ?? -1)} ms/s for a core); ${cost.msgsPerCommit ?? '?'} msgs per commit`);
      steps.push({ ...r, server: watcher.since(mark), clientCpuPct: cost.clientCpuPct, storeCalls, cost, client: cfg.legacyClient ? 'legacy' : 'prepared-frame' });
      return r;
    };

    if (cfg.warmupSec > 0) {
      const rate = cfg.findMax ? cfg.startRate : cfg.rate;
      console.log(`warm-up: ${fmt(rate)} msg/s for ${cfg.warmupSec} s (not recorded)`);
      await chat.run({ rate, durationSec: cfg.warmupSec, drainMs: cfg.drainMs, onSecond: () => {} });
    }
    if (cfg.rates.length) {
      for (const [i, rate] of cfg.rates.entries()) {
        console.log(`step ${i + 1}/${cfg.rates.length}: ${fmt(rate)} msg/s for ${cfg.durationSec} s`);
        await runStep(rate, cfg.durationSec);
        await new Promise((r2) => setTimeout(r2, 1000)); // let the store settle between steps
      }
    } else if (!cfg.findMax) {
      await runStep(cfg.rate, cfg.durationSec);
      if (other) {
        // Alternate the two clients for --rounds rounds: the box's load drifts within a
        // minute, and a stalled node makes any client cheaper per message (more per tick).
        const fastChat = chat;
        steps[0].client = 'prepared-frame';
        for (let round = 1; round <= cfg.rounds; round++) {
          for (const [which, c] of [['legacy', other], ['prepared-frame', fastChat]] as const) {
            if (round === 1 && which === 'prepared-frame') continue; // ran above
            await new Promise((r2) => setTimeout(r2, 1000));
            chat = c;
            console.log(`round ${round}/${cfg.rounds}: ${which === 'legacy' ? 'the legacy ws + protobuf-es client' : 'the prepared-frame client'} (its own ${cfg.pairs} pairs)`);
            await runStep(cfg.rate, cfg.durationSec);
            steps[steps.length - 1].client = which;
          }
        }
        for (const which of ['prepared-frame', 'legacy'] as const) {
          const xs = steps.filter((x) => x.client === which).map((x) => x.cost.clientUsPerMsg).sort((a, b) => a - b);
          compare[which] = xs[Math.floor(xs.length / 2)];
        }
      }
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
    close();
    watcher.stop();
    await node.stop();
    node.cleanup();
    probe.cleanup();
    await cassandra?.destroy();
  }

  // The raw ceiling at the rows per commit the node reached in the step that counts
  // (the max sustainable one, else the one with the highest durable rate), measured with the node stopped.
  let ceiling: (CeilingResult & { nodeDurableRate: number; ratio: number }) | null = null;
  const ref = steps.find((s) => maxSustainable && s.targetRate === maxSustainable.rate) ?? [...steps].sort((a, b) => b.durableRate - a.durableRate)[0];
  if (!cfg.cassandra && cfg.ceilingSec > 0 && ref?.cost.msgsPerCommit) {
    console.log(`raw SQLite ceiling: the node's store, closed loop, ${ref.cost.msgsPerCommit} rows per commit, ${cfg.ceilingSec} s...`);
    const c = await sqliteCeiling({ rowsPerCommit: ref.cost.msgsPerCommit, seconds: cfg.ceilingSec, conversations: cfg.pairs, bodyBytes: cfg.bodyBytes });
    ceiling = { ...c, nodeDurableRate: Math.round(ref.durableRate), ratio: Math.round((ref.durableRate / c.msgsPerSec) * 1000) / 1000 };
  }

  printSteps(steps, cfg, maxSustainable, stopReason, ceiling);
  const clientRatio = compare['prepared-frame'] && compare.legacy ? Math.round((compare['prepared-frame'] / compare.legacy) * 100) / 100 : null;
  if (cfg.compareClients) console.log(`load generator CPU per message, median of ${cfg.rounds} alternating rounds: prepared-frame ${fmt(compare['prepared-frame'] ?? -1)} µs, legacy ${fmt(compare.legacy ?? -1)} µs (${clientRatio ?? '?'}x)`);
  const dir = outDir();
  const envelope = {
    scenario: cfg.findMax ? 'one-node --find-max' : 'one-node',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    command: argv.join(' '),
    machine,
    config: { ...cfg, encoding: 'proto', store: cfg.cassandra ? `cassandra (private local node, CL ONE, commitlog batch, guardSeqs ${!cfg.unguarded})` : 'sqlite (embedded)', writerConcurrency: cfg.writerConcurrency || 'node default', connections: cfg.pairs * 2, clientProcesses: 1 },
    figures: { steps, maxSustainable, stopReason: stopReason || null, ceiling, clientCompare: cfg.compareClients ? { medianUsPerMsg: compare, ratio: clientRatio } : null, perSecond, serverTimeline: watcher.timeline },
  };
  writeJson(path.join(dir, 'result.json'), envelope);
  writeReport(path.join(dir, 'report.html'), {
    title: `Switchboard ${envelope.scenario}`,
    envelope,
    tables: stepTables(steps),
    charts: [
      ...stepCharts(steps),
      { title: 'send -> ack latency by percentile', xLabel: 'percentile', yLabel: 'ms', xKind: 'nines', logY: true, series: steps.map((s) => ({ label: `${fmt(s.targetRate)} msg/s`, points: s.ackCurve })) },
      { title: 'send -> deliver latency by percentile', xLabel: 'percentile', yLabel: 'ms', xKind: 'nines', logY: true, series: steps.map((s) => ({ label: `${fmt(s.targetRate)} msg/s`, points: s.deliverCurve })) },
      { title: 'node RSS over time', xLabel: 's', yLabel: 'MiB', series: [{ label: 'RSS', points: watcher.timeline.map((p) => [p.tSec, p.rssMiB]) }] },
      { title: 'node CPU over time (100 = one core)', xLabel: 's', yLabel: '%', series: [{ label: 'CPU', points: watcher.timeline.map((p) => [p.tSec, p.cpuPct]) }] },
    ],
  });
  console.log(`\nresult: ${path.relative(process.cwd(), dir)}/result.json  (report.html beside it)`);
  return dir;
}

