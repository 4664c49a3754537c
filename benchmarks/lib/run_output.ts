/**
 * The end of every scenario: print the summary table, write result.json and
 * report.html into results/<timestamp>-<scenario>/ and say where they are.
 */
import path from 'node:path';
import { machineInfo, resultDir, writeJson, type MachineInfo } from '../../ops/lib/results.js';
import { table } from './table.js';
import { writeReport, type ReportTable } from '../../ops/report/html.js';
import type { Chart } from '../../ops/report/svg.js';
import { str, type Flags } from '../../ops/lib/args.js';

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
  const m = o.machine;
  writeReport(path.join(dir, 'report.html'), {
    title: `Switchboard bench: ${o.scenario}`,
    envelope,
    tables: o.tables,
    charts: o.charts,
    meta: [
      `command: ${o.argv[0] === 'bench' ? `npm run bench -- ${o.argv.slice(1).join(' ')}` : o.argv.join(' ')}`,
      `started ${envelope.startedAt}, finished ${envelope.finishedAt}`,
      `machine: ${m.cpus} x ${m.cpuModel}, ${m.totalMemGiB} GiB, ${m.os}, node ${m.node}; 1-minute load average at start ${m.loadAvg1m} (the box is shared: figures are noisy when it is above ~0.5)`,
    ],
    notes: o.notes,
  });
  console.log(`result: ${path.relative(process.cwd(), dir)}/result.json  (report.html beside it)`);
  return dir;
}
