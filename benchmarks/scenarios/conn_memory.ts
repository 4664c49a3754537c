/**
 * `bench conn-memory`: memory per idle connection by a method start-up garbage cannot
 * fool. A fresh node carries garbage (the tsx loader, compiled modules) that V8 frees
 * whenever it likes, and the first connections pay one-time costs (code compiled,
 * pools and maps grown); a single "RSS after - RSS before" mixes both into the
 * per-connection figure (the 100k soak once read negative). Here:
 *
 *   phase 1: open N1 connections (authenticated, synced, idle), forced GC in every
 *            thread of the server, RSS1;
 *   phase 2: open N2 - N1 more in `--steps` equal parts, forced GC and an RSS
 *            reading after each (RSS2 the last);
 *   per connection = the least-squares slope of RSS against connections over the
 *            phase-2 readings (N1 included), with its standard error; the two-point
 *            (RSS2 - RSS1) / (N2 - N1) beside it.
 *
 * Why a fit, and net of V8's free heap: RSS moves by tens of MiB on its own while V8
 * keeps or hands back free heap pages (seen
 * between two readings 10,000 connections apart: -77 MiB), against ~10-20 MiB that
 * 10,000 idle connections cost; one difference of two readings carries all of that
 * drift, a slope over several readings averages it, and its standard error says how
 * far to trust it. Subtracting each thread's free heap in RSS (physical - used, from
 * v8.getHeapStatistics after the GC) takes out the pages V8 holds without using them:
 * new connections first fill those, so raw RSS under-reads them (a fit once read less
 * than the heap the connections added). The JS heap per connection (heapUsed after the GC, by thread) is
 * exact and printed too.
 *
 * The forced GC is the thread probe's (node_probe.ts; the server runs with
 * --expose-gc only in this bench). The same two phases run against a bare uWS server
 * in the same run (its ratio is the headline), over ws:// and wss://.
 */
import { randomBytes } from 'node:crypto';
import { bool, checkKnown, num, str, type Flags } from '../../ops/lib/args.js';
import { startBenchNode } from '../lib/bench_node.js';
import { WorkerPool, split, workersFor } from '../loadgen/pool.js';
import { startBaseline } from '../lib/baseline_server.js';
import { NodeProbe } from '../lib/node_probe.js';
import { sampleProc, MiB } from '../lib/proc_stats.js';
import { bar, fmt } from '../lib/table.js';
import { startRun, finishRun } from '../lib/run_output.js';
import { selfSignedCert, type BenchCert } from '../lib/tls.js';
import { MAX_SOCKETS_PER_NODE } from '../lib/nodes.js';

const FLAGS = ['n1', 'n2', 'steps', 'transports', 'settle', 'smoke', 'out'];

interface PhaseFigures {
  server: string;
  transport: string;
  n1: number;
  n2: number;
  rss0MiB: number;
  rss1MiB: number;
  rss2MiB: number;
  /** (RSS1 - RSS0) / N1: the first connections, one-time costs included. */
  firstBytesPerConn: number;
  /** (RSS2 - RSS1) / (N2 - N1). */
  bytesPerConn: number;
  /** Least-squares slope of RSS over the phase-2 readings (the headline), and its standard error. */
  fitBytesPerConn: number;
  fitStderrBytes: number;
  /** The same fit on RSS minus V8's free heap in RSS (every thread's physical - used heap after the GC). */
  netFitBytesPerConn: number;
  netFitStderrBytes: number;
  /** JS heap (heapUsed + external) per connection N1 -> N2, by thread role: where in the server the bytes are. */
  heapBytesPerConn: Record<string, number>;
  failed: number;
}

export async function runConnMemory(flags: Flags, argv: string[]): Promise<string> {
  checkKnown(flags, FLAGS);
  const smoke = bool(flags, 'smoke');
  const cfg = {
    n1: num(flags, 'n1', smoke ? 50 : 5_000),
    n2: num(flags, 'n2', smoke ? 150 : 15_000),
    // RSS readings after N1 in phase 2: 4 (five points for the fit) keeps a ws+wss run
    // under ~10 minutes here; more narrows the error bar.
    steps: num(flags, 'steps', smoke ? 2 : 4),
    // --smoke: ws only, to stay well inside the smoke test's time limit on a loaded box.
    transports: str(flags, 'transports', smoke ? 'ws' : 'ws,wss').split(',').filter(Boolean),
    // Seconds to let a server settle after start and after each phase before its GC.
    settleSec: num(flags, 'settle', smoke ? 1 : 3),
    // At most this long waiting for RSS to stop falling after a forced GC.
    steadySec: smoke ? 2 : 30,
  };
  if (cfg.n2 <= cfg.n1 || cfg.n1 < 1) throw new Error('--n2 must be larger than --n1 (and --n1 >= 1)');
  if (cfg.n2 > MAX_SOCKETS_PER_NODE) throw new Error(`--n2 is at most ${MAX_SOCKETS_PER_NODE} (one server process, 20,000 open files)`);
  for (const t of cfg.transports) if (t !== 'ws' && t !== 'wss') throw new Error(`--transports: ws and/or wss, not ${t}`);
  const { startedAt, machine } = startRun();
  console.log(`conn-memory: ${fmt(cfg.n1)} then ${fmt(cfg.n2)} idle connections, forced GC before each RSS reading; Switchboard and bare uWS over ${cfg.transports.join(', ')}`);
  const rows: PhaseFigures[] = [];
  const timeline: Array<{ server: string; tSec: number; rssMiB: number; connections: number }> = [];
  const t0 = Date.now();
  for (const transport of cfg.transports) {
    const cert: BenchCert | null = transport === 'wss' ? selfSignedCert() : null;
    const tls = cert ? { certFile: cert.certFile, keyFile: cert.keyFile } : undefined;
    try {
      for (const server of ['switchboard', 'uws'] as const) {
        const probe = new NodeProbe();
        const label = `${server} ${transport}`;
        let pid: number;
        let url: string;
        let secret = '';
        let stop: () => Promise<void>;
        if (server === 'switchboard') {
          const node = await startBenchNode({ env: probe.env({ exposeGc: true }), config: tls ? { listen: { tls } } : {} });
          pid = node.proc.pid!;
          url = node.url;
          secret = node.secret;
          stop = async () => {
            await node.stop();
            node.cleanup();
          };
        } else {
          const b = await startBaseline('uws', tls, probe.env({ exposeGc: true }));
          pid = b.proc.pid!;
          url = b.url;
          stop = () => b.stop();
        }
        const pools: WorkerPool[] = [];
        try {
          let heaps = new Map<string, number>();
          /** V8's free heap in RSS at the last reading (see NodeProbe.heapSlack). */
          let slack = 0;
          const rssAfterGc = async (connections: number): Promise<number> => {
            await sleep(cfg.settleSec * 1000);
            // Rounds of (full GC twice, RSS once steady) until two rounds agree within
            // 256 KiB: V8 keeps returning pages (new space shrinking, pooled pages let
            // go) for tens of seconds after a burst, and one steady reading taken in a
            // lull was seen 77 MiB above the next phase's. At most GC_ROUNDS rounds.
            let rss = -1;
            for (let round = 0; round < GC_ROUNDS; round++) {
              // Twice: the second collects what the first one's finalizers and weak refs let go.
              await probe.command(pid, 'gc');
              await probe.command(pid, 'gc');
              heaps = probe.heaps();
              slack = probe.heapSlack();
              const r = await steadyRss(pid, cfg.steadySec);
              const settled = Math.abs(r - rss) < 256 * 1024;
              rss = r;
              if (settled) break;
              await sleep(2000);
            }
            timeline.push({ server: label, tSec: Math.round((Date.now() - t0) / 100) / 10, rssMiB: Math.round((rss / MiB) * 10) / 10, connections });
            console.log(`  ${label}: ${fmt(connections)} connections, RSS after forced GC ${fmt(rss / MiB)} MiB`);
            return rss;
          };
          const rss0 = await rssAfterGc(0);
          pools.push(await openIdle(label, url, secret, cfg.n1, 0, server === 'uws', cert?.ca, 0));
          const rss1 = await rssAfterGc(cfg.n1);
          const heaps1 = heaps;
          const points: Array<[number, number]> = [[cfg.n1, rss1]];
          const net: Array<[number, number]> = [[cfg.n1, rss1 - slack]];
          let open = cfg.n1;
          for (let k = 1; k <= cfg.steps; k++) {
            const target = cfg.n1 + Math.round(((cfg.n2 - cfg.n1) * k) / cfg.steps);
            pools.push(await openIdle(label, url, secret, target - open, open, server === 'uws', cert?.ca, pools.reduce((a, p) => a + p.size, 0)));
            open = target;
            points.push([open, await rssAfterGc(open)]);
            net.push([open, points[points.length - 1][1] - slack]);
          }
          const rss2 = points[points.length - 1][1];
          const fit = slope(points);
          const netFit = slope(net);
          const failed = pools.reduce((a, p) => a + p.total().failed, 0);
          rows.push({
            server, transport, n1: cfg.n1, n2: cfg.n2,
            rss0MiB: Math.round(rss0 / MiB), rss1MiB: Math.round(rss1 / MiB), rss2MiB: Math.round(rss2 / MiB),
            firstBytesPerConn: Math.round((rss1 - rss0) / cfg.n1),
            bytesPerConn: Math.round((rss2 - rss1) / (cfg.n2 - cfg.n1)),
            fitBytesPerConn: Math.round(fit.slope),
            fitStderrBytes: Math.round(fit.stderr),
            netFitBytesPerConn: Math.round(netFit.slope),
            netFitStderrBytes: Math.round(netFit.stderr),
            heapBytesPerConn: Object.fromEntries([...heaps].map(([role, b]) => [role, Math.round((b - (heaps1.get(role) ?? 0)) / (cfg.n2 - cfg.n1))])),
            failed,
          });
        } finally {
          for (const p of pools) {
            p.broadcast({ t: 'release' });
            p.stop();
          }
          await stop();
          probe.cleanup();
        }
      }
    } finally {
      cert?.cleanup();
    }
  }
  const kib = (b: number): number => Math.round((b / 1024) * 100) / 100;
  const ratio = (t: string): number | null => {
    const sb = rows.find((r) => r.server === 'switchboard' && r.transport === t);
    const u = rows.find((r) => r.server === 'uws' && r.transport === t);
    return sb && u && u.netFitBytesPerConn > 0 ? Math.round((sb.netFitBytesPerConn / u.netFitBytesPerConn) * 100) / 100 : null;
  };
  const heapRoles = [...new Set(rows.flatMap((r) => Object.keys(r.heapBytesPerConn)))].sort();
  return finishRun({
    scenario: 'conn-memory',
    startedAt,
    machine,
    argv,
    flags,
    config: cfg,
    figures: { rows, ratios: Object.fromEntries(cfg.transports.map((t) => [t, ratio(t)])), timeline },
    tables: [{
      title: `Memory per idle connection: the slope of RSS over the readings from N1 to N2 (and the two-point difference), each RSS read after forced GCs in every thread of the server`,
      header: ['server', 'transport', 'N1', 'N2', 'RSS0 MiB', 'RSS1 MiB', 'RSS2 MiB', 'KiB/conn first N1', 'KiB/conn N1->N2', 'KiB/conn fit', '± stderr', 'KiB/conn fit net of V8 free heap', '± stderr ', 'x bare uWS (net fit)', 'failed'],
      rows: rows.map((r) => [r.server, r.transport, r.n1, r.n2, r.rss0MiB, r.rss1MiB, r.rss2MiB, kib(r.firstBytesPerConn), kib(r.bytesPerConn), kib(r.fitBytesPerConn), kib(r.fitStderrBytes), kib(r.netFitBytesPerConn), kib(r.netFitStderrBytes), r.server === 'switchboard' ? (ratio(r.transport) ?? 'n/a') : 1, r.failed]),
    }, {
      title: 'JS heap per idle connection N1 -> N2 by thread (heapUsed + external after the forced GC, bytes; the rest of RSS is native: uWS, OpenSSL, malloc)',
      header: ['server', 'transport', ...heapRoles],
      rows: rows.map((r) => [r.server, r.transport, ...heapRoles.map((role) => r.heapBytesPerConn[role] ?? '')]),
    }],
    charts: [{
      title: 'Server RSS after forced GC against open connections',
      xLabel: 'open idle connections',
      yLabel: 'RSS (MiB)',
      series: [...new Set(timeline.map((p) => p.server))].map((s) => ({ label: s, points: timeline.filter((p) => p.server === s).map((p) => [p.connections, p.rssMiB] as [number, number]) })),
    }],
    notes: [
      'KiB/conn fit net of V8 free heap is the headline: the slope, over the readings from N1 to N2, of RSS minus the free heap V8 holds in RSS (each thread\'s physical - used heap after the GC), ± its standard error. Each reading follows forced full GCs in every JS thread with the first connections already open, so neither start-up garbage nor one-time costs enter it, and subtracting V8\'s free heap takes out the pages a GC keeps or lets go, which otherwise move RSS by tens of MiB. "fit" is the same slope of raw RSS, N1->N2 the two-point difference, "first N1" keeps the one-time costs.',
      'Kernel socket memory is not in RSS (see bench soak for it).',
    ],
  });
}

/** Least-squares slope of y on x, and its standard error (0 with two points). */
function slope(points: Array<[number, number]>): { slope: number; stderr: number } {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (const [x, y] of points) {
    sxx += (x - mx) ** 2;
    sxy += (x - mx) * (y - my);
  }
  const b = sxx > 0 ? sxy / sxx : 0;
  if (n < 3 || sxx === 0) return { slope: b, stderr: 0 };
  const sse = points.reduce((a, [x, y]) => a + (y - my - b * (x - mx)) ** 2, 0);
  return { slope: b, stderr: Math.sqrt(sse / (n - 2) / sxx) };
}

/** Rounds of GC + steady RSS per reading (see rssAfterGc): enough for the drift seen here to end, bounded so a leaking server still finishes. */
const GC_ROUNDS = 8;

/** Open `count` idle connections over worker processes (they stay open until release). */
async function openIdle(label: string, url: string, secret: string, count: number, offset: number, raw: boolean, ca: string | undefined, firstWorker: number): Promise<WorkerPool> {
  const slices = split(count, workersFor(count, 18_000));
  let off = offset;
  const jobs = slices.map((n) => {
    const j = { kind: 'hold' as const, urls: [url], count: n, offset: off, reconnect: false, concurrency: 64, raw, ca };
    off += n;
    return j;
  });
  const pool = WorkerPool.start(jobs, secret, `m${randomBytes(3).toString('hex')}`, firstWorker);
  await pool.until(() => pool.allReady(), {
    timeoutMs: 60_000 + count * 10,
    what: `${label}: ${count} connections open`,
    tick: () => {
      const p = pool.total();
      console.log(`  ${label} connecting ${bar(p.connects + p.failed, count)} open ${fmt(p.open)}/${fmt(count)} failed ${p.failed}`);
    },
  });
  return pool;
}

/**
 * RSS once it stops moving: V8 gives freed heap pages back to the OS lazily, from a
 * background thread, for seconds after a full GC. Stable = four readings 500 ms apart
 * within 256 KiB of each other (a relative bound of 0.5 % of a 400 MiB process let
 * ~2 MiB/s of release pass, which is 0.2 KiB per connection over 10,000: as large as
 * the differences measured). At most `maxSec`.
 */
async function steadyRss(pid: number, maxSec: number): Promise<number> {
  const window: number[] = [];
  const end = Date.now() + maxSec * 1000;
  for (;;) {
    window.push(sampleProc(pid)?.rssBytes ?? 0);
    if (window.length > 4) window.shift();
    if (window.length === 4 && Math.max(...window) - Math.min(...window) < 256 * 1024) return window[3];
    if (Date.now() > end) return window[window.length - 1];
    await sleep(500);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
