/**
 * `bench soak`: N connections authenticated, synced and idle (the node pings them;
 * `ws` answers) for a while. Measures node RSS over time and memory per idle
 * connection (RSS delta / connections), then the same idle load against bare uWS and
 * `ws` echo servers in the same run, reported as ratios.
 *
 * Above ~18,000 connections the sockets are spread over several nodes (each process
 * holds at most 20,000 files); the nodes are independent here, which is fine for idle
 * sockets. Baselines hold at most 18,000 sockets (one process) and are compared per
 * connection.
 */
import { randomBytes } from 'node:crypto';
import { bool, checkKnown, num, type Flags } from '../lib/args.js';
import { nodesFor, startNodes, MAX_SOCKETS_PER_NODE } from '../lib/nodes.js';
import { WorkerPool, split, workersFor } from '../loadgen/pool.js';
import { startBaseline, type BaselineKind } from '../lib/baseline_server.js';
import { ProcWatcher, MiB } from '../lib/proc_stats.js';
import { bar, fmt } from '../lib/table.js';
import { startRun, finishRun } from '../lib/run_output.js';

const FLAGS = ['connections', 'duration', 'nodes', 'per-worker', 'concurrency', 'heartbeat-ms', 'no-baselines', 'smoke', 'out'];

interface HoldFigures {
  connections: number;
  failed: number;
  drops: number;
  connectSec: number;
  connectsPerSec: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  bytesPerConn: number;
}

export async function runSoak(flags: Flags, argv: string[]): Promise<string> {
  checkKnown(flags, FLAGS);
  const smoke = bool(flags, 'smoke');
  const cfg = {
    connections: num(flags, 'connections', smoke ? 200 : 10_000),
    durationSec: num(flags, 'duration', smoke ? 3 : 30),
    nodes: 0,
    perWorker: num(flags, 'per-worker', smoke ? 100 : 18_000),
    concurrency: num(flags, 'concurrency', 64),
    heartbeatMs: num(flags, 'heartbeat-ms', smoke ? 1000 : 20_000),
    baselines: !bool(flags, 'no-baselines'),
  };
  cfg.nodes = num(flags, 'nodes', nodesFor(cfg.connections));
  if (cfg.durationSec > 600) throw new Error('--duration is capped at 600 s');
  if (cfg.connections / cfg.nodes > MAX_SOCKETS_PER_NODE) throw new Error(`at most ${MAX_SOCKETS_PER_NODE} connections per node: use --nodes ${nodesFor(cfg.connections)}`);
  const { startedAt, machine } = startRun();
  console.log(`soak: ${fmt(cfg.connections)} connections over ${cfg.nodes} node(s) and ${workersFor(cfg.connections, cfg.perWorker)} client process(es), held ${cfg.durationSec} s`);

  const running = await startNodes(cfg.nodes, { limits: { heartbeatMs: cfg.heartbeatMs, idleTimeoutMs: Math.max(cfg.heartbeatMs * 3, 1000) } });
  const timeline: Array<[number, number, number]> = []; // [s, connections, node RSS MiB]
  let sb: HoldFigures;
  try {
    sb = await holdPhase('switchboard', cfg.connections, cfg.perWorker, cfg.concurrency, running.urls, running.secret, false, cfg.durationSec, () => running.rssBytes(), timeline);
  } finally {
    await running.stop();
  }
  const base: Partial<Record<BaselineKind, HoldFigures>> = {};
  if (cfg.baselines) {
    for (const kind of ['uws', 'ws'] as BaselineKind[]) {
      const srv = await startBaseline(kind);
      const w = new ProcWatcher(srv.proc.pid!);
      try {
        base[kind] = await holdPhase(kind, Math.min(cfg.connections, MAX_SOCKETS_PER_NODE), cfg.perWorker, cfg.concurrency, [srv.url], '', true, Math.min(3, cfg.durationSec), () => w.mark()?.rssBytes ?? 0, null);
      } finally {
        await srv.stop();
      }
    }
  }
  const kib = (b: number): number => Math.round((b / 1024) * 10) / 10;
  const rows: Array<Array<string | number>> = [['switchboard', sb.connections, sb.failed, sb.drops, sb.connectsPerSec, sb.rssBeforeMiB, sb.rssAfterMiB, kib(sb.bytesPerConn), 1]];
  for (const [k, f] of Object.entries(base)) rows.push([`bare ${k}`, f.connections, f.failed, f.drops, f.connectsPerSec, f.rssBeforeMiB, f.rssAfterMiB, kib(f.bytesPerConn), f.bytesPerConn > 100 ? Math.round((sb.bytesPerConn / f.bytesPerConn) * 100) / 100 : 'n/a (below noise)']);
  return finishRun({
    scenario: 'soak',
    startedAt,
    machine,
    argv,
    flags,
    config: cfg,
    figures: {
      switchboard: sb,
      baselines: base,
      ratios: Object.fromEntries(Object.entries(base).map(([k, f]) => [`switchboardPerConnOver_${k}`, f.bytesPerConn > 100 ? sb.bytesPerConn / f.bytesPerConn : null])),
      timeline: timeline.map(([t, c, r]) => ({ tSec: t, connections: c, rssMiB: r })),
    },
    tables: [{ title: 'Idle connections: memory per connection (RSS delta / connections)', header: ['server', 'connections', 'failed', 'drops', 'connects/s', 'RSS before MiB', 'RSS after MiB', 'KiB/conn', 'x baseline'], rows }],
    charts: [
      { title: 'Switchboard node RSS over time (all nodes)', xLabel: 's', yLabel: 'MiB', series: [{ label: 'RSS', points: timeline.map(([t, , r]) => [t, r]) }] },
      { title: 'Open connections over time', xLabel: 's', yLabel: 'connections', series: [{ label: 'connections', points: timeline.map(([t, c]) => [t, c]) }] },
    ],
    notes: ['"x baseline" = Switchboard bytes per connection / that server\'s bytes per connection (the bare servers hold no session state).'],
  });
}

/** Open `n` idle connections over workers, hold them, measure RSS growth per connection. */
async function holdPhase(
  label: string, n: number, perWorker: number, concurrency: number, urls: string[], secret: string, raw: boolean, holdSec: number,
  rss: () => number, timeline: Array<[number, number, number]> | null,
): Promise<HoldFigures> {
  await new Promise((r) => setTimeout(r, 1000)); // let the server settle after start
  const rssBefore = rss();
  const slices = split(n, workersFor(n, perWorker));
  let offset = 0;
  const jobs = slices.map((count) => {
    const j = { kind: 'hold' as const, urls, count, offset, reconnect: false, concurrency, raw };
    offset += count;
    return j;
  });
  const t0 = Date.now();
  const pool = WorkerPool.start(jobs, secret, `k${randomBytes(3).toString('hex')}`);
  const sample = (): void => {
    const p = pool.total();
    timeline?.push([Math.round((Date.now() - t0) / 100) / 10, p.open, Math.round(rss() / MiB)]);
  };
  try {
    await pool.until(() => pool.allReady(), {
      timeoutMs: 60_000 + n * 10,
      what: `${label}: all connections open`,
      tick: () => {
        sample();
        const p = pool.total();
        console.log(`  ${label} connecting ${bar(p.connects + p.failed, n)} open ${fmt(p.open)}/${fmt(n)} failed ${p.failed}  RSS ${fmt(rss() / MiB)} MiB`);
      },
    });
    const connectSec = (Date.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 2000)); // let allocator and GC settle before measuring
    const rssAfter = rss();
    const holdEnd = Date.now() + holdSec * 1000;
    await pool.until(() => Date.now() >= holdEnd, {
      timeoutMs: holdSec * 1000 + 5000,
      what: 'the hold',
      tick: () => {
        sample();
        const p = pool.total();
        console.log(`  ${label} holding ${bar(holdSec * 1000 - (holdEnd - Date.now()), holdSec * 1000)} open ${fmt(p.open)} drops ${p.drops}  RSS ${fmt(rss() / MiB)} MiB`);
      },
    });
    const final = pool.total();
    pool.broadcast({ t: 'release' });
    await pool.until(() => pool.allDone(), { timeoutMs: 30_000, what: 'workers to finish' });
    sample();
    const opened = final.open;
    return {
      connections: opened,
      failed: final.failed,
      drops: final.drops,
      connectSec,
      connectsPerSec: Math.round(final.connects / connectSec),
      rssBeforeMiB: Math.round(rssBefore / MiB),
      rssAfterMiB: Math.round(rssAfter / MiB),
      bytesPerConn: opened > 0 ? (rssAfter - rssBefore) / opened : 0,
    };
  } finally {
    pool.stop();
  }
}
