/**
 * `bench echo`: closed-loop round trips per second over C connections, each keeping
 * W messages in flight, against a bare uWS echo server, a bare `ws` echo server and a
 * Switchboard node (ping -> pong, the cheapest full trip through its protocol stack).
 * Reported as ratios to the baselines. Closed loop is right here: the question is
 * the ceiling, not latency at a given rate.
 */
import { randomBytes } from 'node:crypto';
import { bool, checkKnown, num, type Flags, seconds } from '../../ops/lib/args.js';
import { startNodes } from '../lib/nodes.js';
import { WorkerPool } from '../loadgen/pool.js';
import { startBaseline } from '../lib/baseline_server.js';
import { ProcWatcher } from '../lib/proc_stats.js';
import { Latency } from '../lib/latency.js';
import { fmt } from '../lib/table.js';
import { startRun, finishRun } from '../lib/run_output.js';

const FLAGS = ['conns', 'window', 'duration', 'payload', 'smoke', 'out'];

export async function runEcho(flags: Flags, argv: string[]): Promise<string> {
  checkKnown(flags, FLAGS);
  const smoke = bool(flags, 'smoke');
  const cfg = {
    conns: num(flags, 'conns', smoke ? 10 : 100),
    window: num(flags, 'window', 8),
    durationSec: seconds(flags, 'duration', smoke ? 2 : 10),
    payloadBytes: num(flags, 'payload', 32),
  };
  if (cfg.durationSec > 600) throw new Error('--duration is capped at 600 s');
  const { startedAt, machine } = startRun();
  const out: Record<string, { echoesPerSec: number; rtt: ReturnType<Latency['summary']>; rttCurve: ReturnType<Latency['curve']>; serverCpuPct: number; clientCpuPct: number; errors: Record<string, number> }> = {};
  const targets = ['uws', 'ws', 'switchboard'] as const;
  for (const kind of targets) {
    console.log(`echo: ${kind}, ${cfg.conns} connections x ${cfg.window} in flight for ${cfg.durationSec} s`);
    let url: string;
    let secret = '';
    let pid: number;
    let stop: () => Promise<void>;
    if (kind === 'switchboard') {
      const n = await startNodes(1);
      url = n.urls[0];
      secret = n.secret;
      pid = n.nodes[0].proc.pid!;
      stop = n.stop;
    } else {
      const b = await startBaseline(kind);
      url = b.url;
      pid = b.proc.pid!;
      stop = b.stop;
    }
    const w = new ProcWatcher(pid);
    const pool = WorkerPool.start([{ kind: 'echo', urls: [url], conns: cfg.conns, window: cfg.window, durationMs: cfg.durationSec * 1000, raw: kind !== 'switchboard', payloadBytes: cfg.payloadBytes }], secret, `e${randomBytes(3).toString('hex')}`);
    try {
      await pool.until(() => pool.allReady(), { timeoutMs: 60_000, what: 'echo connections' });
      const mark = w.mark();
      pool.broadcast({ t: 'go' });
      let last = 0;
      await pool.until(() => pool.allDone(), {
        timeoutMs: cfg.durationSec * 1000 + 30_000,
        what: 'echo run',
        tick: () => {
          const p = pool.total();
          console.log(`  ${kind}: ${fmt(p.acked)} echoes (+${fmt(p.acked - last)}/s)`);
          last = p.acked;
        },
      });
      const srv = w.since(mark);
      const rs = pool.doneResults();
      const rtt = new Latency();
      for (const r of rs) rtt.addEncoded(r.histograms.rtt);
      const echoes = rs.reduce((a, r) => a + r.progress.acked, 0);
      const elapsed = Math.max(...rs.map((r) => r.elapsedMs)) / 1000;
      out[kind] = {
        echoesPerSec: Math.round(echoes / elapsed),
        rtt: rtt.summary(),
        rttCurve: rtt.curve(),
        serverCpuPct: srv?.cpuPct ?? -1,
        clientCpuPct: rs[0]?.clientCpuPct ?? -1,
        errors: Object.assign({}, ...rs.map((r) => r.errorsByCode)),
      };
    } finally {
      pool.stop();
      await stop();
    }
  }
  const sb = out.switchboard.echoesPerSec;
  return finishRun({
    scenario: 'echo',
    startedAt,
    machine,
    argv,
    flags,
    config: cfg,
    figures: { ...out, ratios: { switchboardOverUws: sb / out.uws.echoesPerSec, switchboardOverWs: sb / out.ws.echoesPerSec } },
    tables: [
      {
        title: 'Echo round trips (closed loop)',
        header: ['server', 'echoes/s', 'x switchboard', 'rtt p50 ms', 'p99', 'max', 'server cpu%', 'client cpu%'],
        rows: targets.map((k) => [k === 'switchboard' ? 'switchboard (ping/pong)' : `bare ${k}`, out[k].echoesPerSec, Math.round((out[k].echoesPerSec / sb) * 100) / 100, out[k].rtt.p50Ms, out[k].rtt.p99Ms, out[k].rtt.maxMs, out[k].serverCpuPct, out[k].clientCpuPct]),
      },
    ],
    charts: [{ title: 'Echo round-trip time by percentile', xLabel: 'percentile', yLabel: 'ms', xKind: 'nines', logY: true, series: targets.map((k) => ({ label: k, points: out[k].rttCurve })) }],
    notes: ['The client (one process) shares the 2 cores with the server: when client cpu% nears 100 the figure is the client\'s ceiling, not the server\'s.'],
  });
}
