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
 *
 * `--tls` runs the whole thing over wss://: a self-signed certificate is generated,
 * the nodes listen with `listen.tls`, the baselines become uWS SSLApp and `ws` over
 * https.createServer, and clients trust only that certificate (`ca`). Ratios compare
 * like with like (WSS Switchboard vs WSS baselines). Kernel socket memory
 * (/proc/net/sockstat TCP mem, /proc/meminfo Slab) is sampled around each connect.
 */
import { randomBytes } from 'node:crypto';
import { bool, checkKnown, num, type Flags, seconds } from '../../ops/lib/args.js';
import { nodesFor, startNodes, MAX_SOCKETS_PER_NODE } from '../lib/nodes.js';
import { WorkerPool, split, workersFor } from '../loadgen/pool.js';
import { startBaseline, type BaselineKind } from '../lib/baseline_server.js';
import { ProcWatcher, MiB } from '../lib/proc_stats.js';
import { bar, fmt } from '../lib/table.js';
import { startRun, finishRun } from '../lib/run_output.js';
import { selfSignedCert, type BenchCert } from '../lib/tls.js';
import { kernelDelta, kernelMem, type KernelDelta } from '../lib/kernel_mem.js';

const FLAGS = ['connections', 'duration', 'nodes', 'per-worker', 'concurrency', 'heartbeat-ms', 'settle', 'no-baselines', 'tls', 'smoke', 'out'];

interface HoldFigures {
  connections: number;
  failed: number;
  drops: number;
  connectSec: number;
  connectsPerSec: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  /** (RSS right after connect + 2 s - RSS before) / connections. */
  bytesPerConn: number;
  /** RSS at the end of the hold: steady state, after the heartbeats' garbage has been collected a few times. */
  rssEndMiB: number;
  /** (RSS at the end of the hold - RSS before) / connections: the headline figure. */
  bytesPerConnHeld: number;
  /** Server CPU (sum over its processes, % of one core) while the sockets sat idle. */
  holdCpuPct: number;
  kernel: KernelDelta | null;
}

/** Server-side probes a hold phase needs: RSS now, and a CPU window. */
interface ServerProbe {
  rss(): number;
  /** Start a CPU window; the returned function gives average CPU % (of one core) since. */
  cpuWindow(): () => number;
}

export async function runSoak(flags: Flags, argv: string[]): Promise<string> {
  checkKnown(flags, FLAGS);
  const smoke = bool(flags, 'smoke');
  const cfg = {
    connections: num(flags, 'connections', smoke ? 200 : 10_000),
    durationSec: seconds(flags, 'duration', smoke ? 3 : 30),
    nodes: 0,
    perWorker: num(flags, 'per-worker', smoke ? 100 : 18_000),
    concurrency: num(flags, 'concurrency', 64),
    heartbeatMs: num(flags, 'heartbeat-ms', smoke ? 1000 : 20_000),
    baselines: !bool(flags, 'no-baselines'),
    tls: bool(flags, 'tls'),
    // A fresh node carries start-up garbage (the tsx loader, compiled modules) that V8
    // only returns once it has been idle for a while; measuring "before" too early
    // makes the per-connection delta too small, even negative.
    settleSec: seconds(flags, 'settle', smoke ? 1 : 10),
  };
  cfg.nodes = num(flags, 'nodes', nodesFor(cfg.connections));
  if (cfg.durationSec > 600) throw new Error('--duration is capped at 600 s');
  if (cfg.connections / cfg.nodes > MAX_SOCKETS_PER_NODE) throw new Error(`at most ${MAX_SOCKETS_PER_NODE} connections per node: use --nodes ${nodesFor(cfg.connections)}`);
  const { startedAt, machine } = startRun();
  const scheme = cfg.tls ? 'wss' : 'ws';
  console.log(`soak: ${fmt(cfg.connections)} connections over ${scheme}:// to ${cfg.nodes} node process(es) and ${workersFor(cfg.connections, cfg.perWorker)} client process(es), held ${cfg.durationSec} s`);

  const cert: BenchCert | null = cfg.tls ? selfSignedCert() : null;
  const tls = cert ? { certFile: cert.certFile, keyFile: cert.keyFile } : undefined;
  const timeline: Array<[number, number, number]> = []; // [s, connections, node RSS MiB]
  let sb: HoldFigures;
  const base: Partial<Record<BaselineKind, HoldFigures>> = {};
  try {
    const running = await startNodes(cfg.nodes, {
      limits: { heartbeatMs: cfg.heartbeatMs, idleTimeoutMs: Math.max(cfg.heartbeatMs * 3, 1000) },
      ...(tls ? { listen: { tls } } : {}),
    });
    try {
      const probe: ServerProbe = {
        rss: () => running.rssBytes(),
        cpuWindow: () => {
          const marks = running.watchers.map((w) => w.mark());
          return () => running.watchers.reduce((a, w, i) => a + (w.since(marks[i])?.cpuPct ?? 0), 0);
        },
      };
      sb = await holdPhase('switchboard', cfg.connections, cfg, running.urls, running.secret, false, cfg.durationSec, probe, timeline, cert?.ca);
    } finally {
      await running.stop();
    }
    if (cfg.baselines) {
      for (const kind of ['uws', 'ws'] as BaselineKind[]) {
        const srv = await startBaseline(kind, tls);
        const w = new ProcWatcher(srv.proc.pid!);
        const probe: ServerProbe = { rss: () => w.mark()?.rssBytes ?? 0, cpuWindow: () => { const m = w.mark(); return () => w.since(m)?.cpuPct ?? 0; } };
        try {
          base[kind] = await holdPhase(`${kind}${cfg.tls ? ' (tls)' : ''}`, Math.min(cfg.connections, MAX_SOCKETS_PER_NODE), cfg, [srv.url], '', true, Math.min(3, cfg.durationSec), probe, null, cert?.ca);
        } finally {
          await srv.stop();
        }
      }
    }
  } finally {
    cert?.cleanup();
  }
  const kib = (b: number): number => Math.round((b / 1024) * 10) / 10;
  // Below ~100 B/conn (or negative) a delta is allocator noise, not a cost: no ratio.
  const ratio = (a: number, b: number): number | null => (a > 100 && b > 100 ? Math.round((a / b) * 100) / 100 : null);
  const kernelCols = (f: HoldFigures): Array<string | number> => (f.kernel ? [kib(f.kernel.tcpBufBytesPerConn), kib(f.kernel.slabBytesPerConn)] : ['n/a', 'n/a']);
  const row = (name: string, f: HoldFigures, x: number | null | string): Array<string | number> => [name, f.connections, f.failed, f.drops, f.connectsPerSec, f.rssBeforeMiB, f.rssAfterMiB, f.rssEndMiB, kib(f.bytesPerConn), kib(f.bytesPerConnHeld), ...kernelCols(f), f.holdCpuPct, x ?? 'n/a (below noise)'];
  const rows: Array<Array<string | number>> = [row(`switchboard (${cfg.nodes} node${cfg.nodes > 1 ? 's' : ''})`, sb, 1)];
  for (const [k, f] of Object.entries(base)) rows.push(row(`bare ${k}${cfg.tls ? ' (tls)' : ''}`, f, ratio(sb.bytesPerConnHeld, f.bytesPerConnHeld)));
  const pingsPerSec = (sb.connections * 1000) / cfg.heartbeatMs;
  return finishRun({
    scenario: cfg.tls ? 'soak-tls' : 'soak',
    startedAt,
    machine,
    argv,
    flags,
    config: { ...cfg, transport: scheme, nodeProcesses: cfg.nodes },
    figures: {
      transport: scheme,
      nodeProcesses: cfg.nodes,
      switchboard: sb,
      baselines: base,
      // Ratios use the end-of-hold figure (steady state) on both sides.
      ratios: Object.fromEntries(Object.entries(base).map(([k, f]) => [`switchboardPerConnOver_${k}`, ratio(sb.bytesPerConnHeld, f.bytesPerConnHeld)])),
      heartbeat: {
        intervalMs: cfg.heartbeatMs,
        pingsPerSec,
        holdCpuPct: sb.holdCpuPct,
        // CPU-seconds per ping/pong round trip on the node side (all nodes together).
        cpuMicrosPerPing: pingsPerSec > 0 ? Math.round(((sb.holdCpuPct / 100) * 1e6) / pingsPerSec) : null,
      },
      timeline: timeline.map(([t, c, r]) => ({ tSec: t, connections: c, rssMiB: r })),
    },
    tables: [{
      title: `Idle ${scheme}:// connections: memory per connection (RSS delta / connections), kernel socket memory, CPU while idle`,
      header: ['server', 'connections', 'failed', 'drops', 'connects/s', 'RSS before MiB', 'RSS connected MiB', 'RSS end of hold MiB', 'KiB/conn connected', 'KiB/conn end of hold (user)', 'kernel TCP buf KiB/conn', 'kernel slab KiB/conn', 'idle CPU %', 'x baseline (user)'],
      rows,
    }],
    charts: [
      { title: `Switchboard node RSS over time (sum of ${cfg.nodes} node process${cfg.nodes > 1 ? 'es' : ''}, ${scheme})`, xLabel: 'time since first connect (s)', yLabel: 'RSS (MiB)', series: [{ label: 'node RSS, MiB', points: timeline.map(([t, , r]) => [t, r]) }] },
      { title: 'Open connections over time', xLabel: 'time since first connect (s)', yLabel: 'open connections', series: [{ label: 'open connections', points: timeline.map(([t, c]) => [t, c]) }] },
    ],
    notes: [
      `Switchboard ran as ${cfg.nodes} independent node process(es) (one process holds at most ${fmt(MAX_SOCKETS_PER_NODE)} sockets under the 20,000-file limit); RSS is summed over them. Baselines are one process each, capped at ${fmt(MAX_SOCKETS_PER_NODE)} sockets.`,
      `KiB/conn = RSS delta / open connections, "before" taken ${cfg.settleSec} s after start; "connected" 2 s after the last connect; "end of hold" after the whole hold (steady state: the headline). "x baseline" = Switchboard end-of-hold bytes per connection / that server's (the bare servers hold no session state); same transport on both sides.`,
      'Kernel columns: machine-wide deltas of /proc/net/sockstat TCP mem and /proc/meminfo Slab over the connect phase, per connection; on loopback they cover BOTH ends (client + server socket), and other processes on the box add noise.',
      `Idle CPU: server CPU during the hold; Switchboard pings every socket each ${cfg.heartbeatMs} ms (${fmt(Math.round(pingsPerSec))} pings/s).`,
    ],
  });
}

/** Open `n` idle connections over workers, hold them, measure RSS growth per connection. */
async function holdPhase(
  label: string, n: number, o: { perWorker: number; concurrency: number; settleSec: number }, urls: string[], secret: string, raw: boolean, holdSec: number,
  probe: ServerProbe, timeline: Array<[number, number, number]> | null, ca: string | undefined,
): Promise<HoldFigures> {
  const { perWorker, concurrency } = o;
  const rss = (): number => probe.rss();
  await new Promise((r) => setTimeout(r, o.settleSec * 1000)); // let the server settle after start
  const rssBefore = rss();
  const kBefore = kernelMem();
  const slices = split(n, workersFor(n, perWorker));
  let offset = 0;
  const jobs = slices.map((count) => {
    const j = { kind: 'hold' as const, urls, count, offset, reconnect: false, concurrency, raw, ca };
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
    const kAfter = kernelMem();
    const cpuSince = probe.cpuWindow();
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
    const holdCpuPct = cpuSince();
    const rssEnd = rss();
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
      rssEndMiB: Math.round(rssEnd / MiB),
      bytesPerConnHeld: opened > 0 ? (rssEnd - rssBefore) / opened : 0,
      holdCpuPct,
      kernel: kernelDelta(kBefore, kAfter, opened),
    };
  } finally {
    pool.stop();
  }
}
