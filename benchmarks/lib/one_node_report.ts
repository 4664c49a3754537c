/**
 * The one-node bench's summary: the step table (rate, latency, errors), the cost
 * table (CPU per durable message by thread role and for the client, main-loop delay,
 * messages per commit), the profile's top functions, the SQLite ceiling line, and the
 * report's charts (CPU per message against rate, loop delay against rate).
 */
import type { StepResult } from './step_result.js';
import type { Chart } from '../../ops/report/svg.js';
import type { StoreCallRow } from './store_calls.js';
import type { StepCost } from './step_meter.js';
import type { CeilingResult } from './sqlite_ceiling.js';
import { table, fmt } from './table.js';

export type StepRow = StepResult & { server: { cpuPct: number; rssEndMiB: number; rssPeakMiB: number } | null; clientCpuPct: number; storeCalls: StoreCallRow[]; cost: StepCost; client: 'prepared-frame' | 'legacy' };
type Table = { title: string; header: string[]; rows: Array<Array<string | number>> };

const LATENCY_HEADER = ['target/s', 'sent', 'acked', 'durable/s', 'ack p50', 'p90', 'p99', 'p99.9', 'max', 'deliver p50', 'p90', 'p99', 'p99.9', 'max', 'errors', 'node cpu%', 'node rss MiB', 'client cpu%'];

function latencyRows(steps: StepRow[]): Array<Array<string | number>> {
  return steps.map((s) => [
    s.targetRate, s.sent, s.acked, s.durableRate,
    s.ack.p50Ms, s.ack.p90Ms, s.ack.p99Ms, s.ack.p999Ms, s.ack.maxMs,
    s.deliver.p50Ms, s.deliver.p90Ms, s.deliver.p99Ms, s.deliver.p999Ms, s.deliver.maxMs,
    Object.values(s.errors).reduce((a, b) => a + b, 0),
    s.cost.nodeCpuPct, s.server?.rssEndMiB ?? -1, s.cost.clientCpuPct,
  ]);
}

/** Thread roles seen in any step, in the order the meter sorts them. */
function roles(steps: StepRow[]): string[] {
  const seen: string[] = [];
  for (const s of steps) for (const t of s.cost.threads) if (!seen.includes(t.role)) seen.push(t.role);
  return seen;
}

function costTable(steps: StepRow[]): Table {
  const rs = roles(steps);
  return {
    title: 'CPU per durable message (µs, all threads of the node from /proc; client = the load generator, per message it sent), main loop delay (ms), how long the main thread waited for a core (ms per s, schedstat: loop delay that is the box\'s, not a block), messages per store commit',
    header: ['client', 'target/s', 'durable/s', 'node µs/msg', ...rs.map((r) => `${r} µs`), 'client µs/msg', 'of which kernel', 'loop p50', 'loop p99', 'loop max', 'main runq wait ms/s', 'msgs/commit'],
    rows: steps.map((s) => [
      s.client, s.targetRate, s.durableRate, s.cost.nodeUsPerMsg,
      ...rs.map((r) => s.cost.threads.find((t) => t.role === r)?.usPerMsg ?? 0),
      s.cost.clientUsPerMsg, s.cost.clientSysUsPerMsg, s.cost.loopDelay?.p50Ms ?? -1, s.cost.loopDelay?.p99Ms ?? -1, s.cost.loopDelay?.maxMs ?? -1, s.cost.threads.find((t) => t.role === 'main')?.waitMsPerSec ?? -1, s.cost.msgsPerCommit ?? -1,
    ]),
  };
}

function profileTables(steps: StepRow[]): Table[] {
  const header = ['function', 'where', 'thread', '% of sampled', 'µs/msg'];
  return steps.flatMap((s) => [
    ...(s.cost.profile
      ? [{ title: `Top self time, node threads, at ${fmt(s.targetRate)} msg/s (${fmt(s.cost.profile.sampledMs)} ms sampled, (idle) left out)`, header, rows: s.cost.profile.top.map((t) => [t.fn, t.where, t.role, t.pct, t.usPerMsg ?? -1]) }]
      : []),
    ...(s.cost.clientProfile
      ? [{ title: `Top self time, the load generator, at ${fmt(s.targetRate)} msg/s (${fmt(s.cost.clientProfile.sampledMs)} ms sampled)`, header, rows: s.cost.clientProfile.top.map((t) => [t.fn, t.where, t.role, t.pct, t.usPerMsg ?? -1]) }]
      : []),
  ]);
}

export function stepTables(steps: StepRow[]): Table[] {
  return [{ title: 'Steps (latencies in ms from the scheduled send time)', header: LATENCY_HEADER, rows: latencyRows(steps) }, costTable(steps), ...profileTables(steps)];
}

export function stepCharts(steps: StepRow[]): Chart[] {
  const pts = (f: (s: StepRow) => number): Array<[number, number]> => steps.map((s) => [s.durableRate, f(s)]);
  return [
    {
      title: 'CPU per durable message against the durable rate',
      xLabel: 'durable msg/s',
      yLabel: 'µs of CPU per message',
      series: [
        { label: 'node, all threads', points: pts((s) => s.cost.nodeUsPerMsg) },
        ...roles(steps).map((r) => ({ label: `node ${r}`, points: pts((s) => s.cost.threads.find((t) => t.role === r)?.usPerMsg ?? 0) })),
        { label: 'load generator', points: pts((s) => s.cost.clientUsPerMsg) },
      ],
    },
    {
      title: 'Host main event-loop delay against the durable rate',
      xLabel: 'durable msg/s',
      yLabel: 'ms',
      series: [
        { label: 'p50', points: pts((s) => s.cost.loopDelay?.p50Ms ?? 0) },
        { label: 'p99', points: pts((s) => s.cost.loopDelay?.p99Ms ?? 0) },
        { label: 'max (longest block)', points: pts((s) => s.cost.loopDelay?.maxMs ?? 0) },
      ],
    },
  ];
}

export function printSteps(
  steps: StepRow[], cfg: { findMax: boolean }, max: { rate: number; durableRate: number } | null, stopReason: string,
  ceiling: (CeilingResult & { nodeDurableRate: number; ratio: number }) | null,
): void {
  console.log('');
  for (const t of stepTables(steps)) console.log(`${t.title}\n${table(t.header, t.rows)}\n`);
  console.log('(cpu% is of one core, 200% = both cores; thread roles: main = the host event loop, shard-N = socket shard threads, other = V8 GC/compiler and libuv threads, the task pool)');
  for (const [i, s] of steps.entries()) {
    const errs = Object.entries(s.errors);
    if (errs.length) console.log(`errors in step ${i + 1}: ${errs.map(([k, v]) => `${k}=${v}`).join(' ')}`);
    if (s.scheduleLag.p99Ms > 5) console.log(`step ${i + 1}: the load generator ran late (schedule lag p99 ${fmt(s.scheduleLag.p99Ms)} ms): latencies include that`);
  }
  if (cfg.findMax) console.log(`max sustainable: ${max ? `${fmt(max.durableRate)} durable msg/s (target ${fmt(max.rate)})` : 'none of the steps met the bound'}; stopped: ${stopReason}`);
  if (ceiling) {
    console.log(
      `raw SQLite ceiling (node/store/sqlite_store.ts alone, WAL, synchronous=FULL, ${ceiling.rowsPerCommit} rows per commit): ${fmt(ceiling.msgsPerSec)} msg/s, ${fmt(ceiling.cpuUsPerMsg)} µs CPU per message, ${fmt(ceiling.commitMeanMs)} ms per commit; the node's ${fmt(ceiling.nodeDurableRate)} durable msg/s is ${fmt(ceiling.ratio * 100)} % of it`,
    );
  }
}
