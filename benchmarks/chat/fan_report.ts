/**
 * What both fan-out benches print and write at the end (benchmarks/group_fanout.ts for
 * Switchboard, benchmarks/reference/centrifugo_fanout.ts for Centrifugo), so the two
 * read the same way: the common columns of the steps table, result.json, and
 * report.html with deliveries/s by rate and the time to the last member by percentile.
 */
import path from 'node:path';
import { resultDir, writeJson, type MachineInfo } from '../../ops/lib/results.js';
import { writeReport, type ReportInput } from '../../ops/report/html.js';
import { fmt } from '../lib/table.js';
import { load1, type FanStepFigures } from './fan_arrivals.js';

/** The steps table's first columns, the same in both benches; each adds its server's CPU columns before the last two. */
export const FAN_HEADER_HEAD = ['msg/s', 'sent', 'lost', 'deliv/s', 'last p50', 'p90', 'p99', 'max ms', 'ack p99'];
export const FAN_HEADER_TAIL = ['load1m', 'errors'];

export function fanRowHead(s: FanStepFigures<number | null>): Array<string | number> {
  return [s.targetRate === null ? 'closed' : s.targetRate, s.sent, s.lost, s.deliveriesPerSec, s.last.p50Ms, s.last.p90Ms, s.last.p99Ms, s.last.maxMs, s.ack.p99Ms];
}

export function fanRowTail(s: FanStepFigures<number | null>): Array<string | number> {
  return [s.loadAvg1m, Object.entries(s.errors).map(([k, v]) => `${k} ${v}`).join(' ') || '-'];
}

/** Write result.json and report.html (with the two fan-out charts) under results/ or `outBase`; returns the directory. */
export function writeFanResult(o: {
  scenario: string;
  startedAt: Date;
  outBase: string | undefined;
  machine: MachineInfo;
  config: Record<string, unknown>;
  steps: Array<FanStepFigures<number | null>>;
  title: string;
  meta: string;
  tables: NonNullable<ReportInput['tables']>;
  notes?: string[];
}): string {
  const dir = resultDir(o.scenario, o.startedAt, o.outBase);
  const envelope = {
    scenario: o.scenario,
    startedAt: o.startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    command: process.argv.slice(1).join(' '),
    machine: o.machine,
    config: { ...o.config, clientProcesses: 1, loadAvgAtEnd: load1() },
    figures: { steps: o.steps },
  };
  writeJson(path.join(dir, 'result.json'), envelope);
  const label = (s: FanStepFigures<number | null>): string => (s.targetRate === null ? 'closed loop' : `${fmt(s.targetRate)} msg/s`);
  writeReport(path.join(dir, 'report.html'), {
    title: o.title,
    envelope,
    meta: [envelope.command, `${o.meta}${o.machine.cpus} x ${o.machine.cpuModel}, load ${o.machine.loadAvg1m} at start, ${load1()} at end`],
    tables: o.tables,
    notes: o.notes,
    charts: [
      { title: 'deliveries/s by target rate', xLabel: 'msg/s', yLabel: 'deliveries/s', series: [{ label: 'achieved', points: o.steps.filter((s) => s.targetRate !== null).map((s) => [s.targetRate!, s.deliveriesPerSec]) }] },
      { title: 'time to the last member by percentile', xLabel: 'percentile', yLabel: 'ms', xKind: 'nines', logY: true, series: o.steps.map((s) => ({ label: label(s), points: s.lastCurve })) },
    ],
  });
  console.log(`\nresult: ${path.relative(process.cwd(), dir)}/result.json  (report.html beside it)`);
  return dir;
}
