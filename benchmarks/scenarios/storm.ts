/**
 * `bench storm`: N connections held on one node; then the node is killed (SIGKILL, or
 * SIGTERM for a graceful drain) and restarted on the same port and data dir. Every
 * client reconnects with jittered backoff and resyncs. Measures the time from the kill
 * until the last client is back and synced, and each socket's drop -> resynced time.
 * One node holds at most ~18,000 sockets, so this scenario is capped there.
 */
import { randomBytes } from 'node:crypto';
import { bool, checkKnown, num, str, type Flags } from '../../ops/lib/args.js';
import { startBenchNode } from '../lib/bench_node.js';
import { freePort, MAX_SOCKETS_PER_NODE } from '../lib/nodes.js';
import { WorkerPool, split, workersFor } from '../loadgen/pool.js';
import { Latency } from '../lib/latency.js';
import { ProcWatcher } from '../lib/proc_stats.js';
import { bar, fmt } from '../lib/table.js';
import { startRun, finishRun } from '../lib/run_output.js';

const FLAGS = ['connections', 'signal', 'per-worker', 'concurrency', 'smoke', 'out'];

export async function runStorm(flags: Flags, argv: string[]): Promise<string> {
  checkKnown(flags, FLAGS);
  const smoke = bool(flags, 'smoke');
  const cfg = {
    connections: num(flags, 'connections', smoke ? 100 : 5000),
    signal: str(flags, 'signal', 'SIGKILL') as NodeJS.Signals,
    perWorker: num(flags, 'per-worker', smoke ? 50 : 18_000),
    concurrency: num(flags, 'concurrency', 64),
  };
  if (!['SIGKILL', 'SIGTERM'].includes(cfg.signal)) throw new Error('--signal is SIGKILL or SIGTERM');
  if (cfg.connections > MAX_SOCKETS_PER_NODE) throw new Error(`storm restarts one node: at most ${MAX_SOCKETS_PER_NODE} connections`);
  const { startedAt, machine } = startRun();
  const port = await freePort();
  // A short drain keeps a SIGTERM run quick; the node's goaway tells clients to leave.
  const nodeCfg = { listen: { port }, drain: { deadlineMs: 2000, goawayJitterMs: 500 } };
  let node = await startBenchNode({ config: nodeCfg });
  console.log(`storm: ${fmt(cfg.connections)} connections on ${node.url}, then ${cfg.signal} and restart`);
  const n = cfg.connections;
  const slices = split(n, workersFor(n, cfg.perWorker));
  let offset = 0;
  const jobs = slices.map((count) => {
    const j = { kind: 'hold' as const, urls: [node.url], count, offset, reconnect: true, concurrency: cfg.concurrency, raw: false };
    offset += count;
    return j;
  });
  const pool = WorkerPool.start(jobs, node.secret, `s${randomBytes(3).toString('hex')}`);
  const timeline: Array<[number, number]> = [];
  const t0 = Date.now();
  const sample = (): void => void timeline.push([Math.round((Date.now() - t0) / 100) / 10, pool.total().open]);
  let figures: Record<string, unknown>;
  const reconnect = new Latency();
  try {
    await pool.until(() => pool.allReady(), {
      timeoutMs: 60_000 + n * 10,
      what: 'connections',
      tick: () => {
        sample();
        const p = pool.total();
        console.log(`  connecting ${bar(p.connects + p.failed, n)} open ${fmt(p.open)} failed ${p.failed}`);
      },
    });
    const before = pool.total();
    const killAt = Date.now();
    await node.kill(cfg.signal);
    const downMs = Date.now() - killAt;
    node = await node.restart();
    const restartedMs = Date.now() - killAt;
    console.log(`  node exited ${downMs} ms after ${cfg.signal}; back up after ${restartedMs} ms`);
    const w = new ProcWatcher(node.proc.pid!);
    await pool.until(() => pool.total().drops >= before.open && pool.total().open >= before.open, {
      timeoutMs: 150_000,
      everyMs: 500,
      what: 'every client to reconnect and resync',
      tick: () => {
        sample();
        const p = pool.total();
        console.log(`  reconnecting ${bar(p.reconnects, before.open)} open ${fmt(p.open)}/${fmt(before.open)} drops ${fmt(p.drops)}  node rss ${fmt((w.mark()?.rssBytes ?? 0) / 2 ** 20)} MiB`);
      },
    });
    sample();
    const allBackMs = Date.now() - killAt;
    pool.broadcast({ t: 'release' });
    await pool.until(() => pool.allDone(), { timeoutMs: 30_000, what: 'workers to finish' });
    const rs = pool.doneResults();
    for (const r of rs) reconnect.addEncoded(r.histograms.reconnect);
    const lastBack = Math.max(...rs.map((r) => r.lastReconnectAt ?? 0));
    const errors: Record<string, number> = {};
    for (const r of rs) for (const [k, v] of Object.entries(r.errorsByCode)) errors[k] = (errors[k] ?? 0) + v;
    figures = {
      connections: before.open,
      failedInitially: before.failed,
      nodeDownMs: downMs,
      nodeBackUpMs: restartedMs,
      // Exact (worker timestamps); allBackObservedMs is the coordinator's 100 ms-polled view.
      allReconnectedMs: lastBack - killAt,
      allBackObservedMs: allBackMs,
      reconnects: rs.reduce((a, r) => a + r.progress.reconnects, 0),
      dropToResynced: reconnect.summary(),
      errors,
    };
  } finally {
    pool.stop();
    await node.stop();
    node.cleanup();
  }
  const d = figures.dropToResynced as ReturnType<Latency['summary']>;
  return finishRun({
    scenario: 'storm',
    startedAt,
    machine,
    argv,
    flags,
    config: cfg,
    figures: { ...figures, timeline: timeline.map(([t, c]) => ({ tSec: t, open: c })) },
    tables: [{ title: `Reconnect storm after ${cfg.signal} + restart (ms)`, header: ['connections', 'node back up', 'all resynced', 'reconnects', 'drop->resynced p50', 'p99', 'max'], rows: [[figures.connections as number, figures.nodeBackUpMs as number, figures.allReconnectedMs as number, figures.reconnects as number, d.p50Ms, d.p99Ms, d.maxMs]] }],
    charts: [
      { title: 'Open (synced) connections over time', xLabel: 's', yLabel: 'connections', series: [{ label: 'open', points: timeline }] },
      { title: 'drop -> resynced by percentile', xLabel: 'percentile', yLabel: 'ms', xKind: 'nines', logY: true, series: [{ label: 'reconnect', points: reconnect.curve() }] },
    ],
  });
}
