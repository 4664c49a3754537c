/**
 * The end of every scenario: print the summary table, write result.json and
 * report.html into results/<timestamp>-<scenario>/ and say where they are.
 */
import path from 'node:path';
import { machineInfo, resultDir, writeJson, type MachineInfo } from './results.js';
import { table } from './table.js';
import { writeReport, type ReportTable } from '../report/html.js';
import type { Chart } from '../report/svg.js';
import { str, type Flags } from './args.js';

export interface RunOutput {
  scenario: string;
  startedAt: Date;
  machine: MachineInfo;
  argv: string[];
  flags: Flags;
  config: unknown;
  figures: unknown;
  tables: ReportTable[];
  charts: Chart[];
  notes?: string[];
}

export function startRun(): { startedAt: Date; machine: MachineInfo } {
  const machine = machineInfo();
  console.log(`machine: ${machine.cpus} x ${machine.cpuModel}, ${machine.totalMemGiB} GiB, node ${machine.node}, load ${machine.loadAvg1m} (other work on the box makes figures noisy)`);
  return { startedAt: new Date(), machine };
}

export function finishRun(o: RunOutput): string {
  console.log('');
  for (const t of o.tables) {
    console.log(`${t.title}\n${table(t.header, t.rows)}\n`);
  }
  for (const n of o.notes ?? []) console.log(n);
  const dir = resultDir(o.scenario, o.startedAt, o.flags.has('out') ? path.resolve(str(o.flags, 'out', '')) : undefined);
  const envelope = {
    scenario: o.scenario,
    startedAt: o.startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    command: o.argv.join(' '),
    machine: o.machine,
    config: o.config,
    figures: o.figures,
    notes: o.notes ?? [],
  };
  writeJson(path.join(dir, 'result.json'), envelope);
  writeReport(path.join(dir, 'report.html'), { title: `Switchboard bench: ${o.scenario}`, envelope, tables: o.tables, charts: o.charts });
  console.log(`result: ${path.relative(process.cwd(), dir)}/result.json  (report.html beside it)`);
  return dir;
}
