/**
 * The output of a chaos run, in the benches' folder convention:
 * results/<timestamp>-chaos-<scenario>/ holding result.json and report.html
 * (ops/lib/results.ts, ops/report/html.ts), plus, when a bad count is
 * above 0 or the run failed (or with --keep-history), history.json.gz (everything the
 * clients recorded) and the node / etcd / Cassandra logs. `recordInDoc` puts the
 * run's row into the table of docs/CHAOS.md.
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { machineInfo, resultDir, ROOT, writeJson, type MachineInfo } from '../lib/results.js';
import { writeReport, type ReportTable } from '../report/html.js';
import type { Chart } from '../report/svg.js';
import { BAD_COUNTS, badTotal, type CheckResult } from './checker.js';
import type { History } from './history.js';
import type { CycleOutcome } from './nemesis.js';
import type { DeviceStats } from './device_types.js';

export interface CodeInfo {
  commit: string;
  /** Tracked source files modified in the working tree when the run started (others' work in progress). */
  modified: string[];
}

export function codeInfo(): CodeInfo {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short=10', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'node', 'shards', 'protocol', 'supervisor'], { cwd: ROOT, encoding: 'utf8' });
    return { commit, modified: status.split('\n').filter(Boolean).map((l) => l.slice(3)) };
  } catch {
    return { commit: 'unknown', modified: [] };
  }
}

export function codeLabel(c: CodeInfo): string {
  return c.modified.length ? `${c.commit} + ${c.modified.length} modified` : c.commit;
}

export interface TimelinePoint {
  t: number;
  acks: number;
  pending: number;
  connected: number;
  load1: number;
}

export interface RunRecord {
  scenario: string;
  command: string;
  startedAt: Date;
  finishedAt: Date;
  machine: MachineInfo;
  code: CodeInfo;
  config: Record<string, unknown>;
  cyclesAsked: number;
  cycles: CycleOutcome[];
  check: CheckResult | null;
  stats: DeviceStats | null;
  timeline: TimelinePoint[];
  errors: string[];
  exitCode: number;
}

export function loadSummary(tl: TimelinePoint[]): { mean: number; max: number } {
  if (!tl.length) return { mean: 0, max: 0 };
  const l = tl.map((p) => p.load1);
  return { mean: Math.round((l.reduce((s, x) => s + x, 0) / l.length) * 100) / 100, max: Math.round(Math.max(...l) * 100) / 100 };
}

export const SUMMARY_HEADER = ['scenario', 'cycles', 'acked', 'lost', 'seq acked twice', 'acks moved', 'stored twice', 'disagreements', 'gaps', 'unacked stored', 'unresolved', 'duration', 'load avg (mean / max)'];

export function summaryRow(r: RunRecord): Array<string | number> {
  const c = r.check;
  const load = loadSummary(r.timeline);
  const dur = Math.round((r.finishedAt.getTime() - r.startedAt.getTime()) / 1000);
  const n = (k: keyof CheckResult): string | number => (c ? (c[k] as number) : '-');
  return [r.scenario, `${r.cycles.length}/${r.cyclesAsked}`, n('acked'), n('lost'), n('seqAckedTwice'), n('ackMoved'), n('duplicates'), n('disagreements'), n('gaps'), n('unackedStored'), n('unresolved'), `${Math.floor(dur / 60)}m${String(dur % 60).padStart(2, '0')}s`, `${load.mean} / ${load.max}`];
}

export function verdict(r: RunRecord): string {
  if (r.check && badTotal(r.check) > 0) return `FAIL: ${BAD_COUNTS.filter((k) => r.check![k] > 0).map((k) => `${k} ${r.check![k]}`).join(', ')}`;
  if (r.errors.length) return `ERROR: ${r.errors[0].split('\n')[0]}`;
  if (r.check && (r.check.incompleteFinal > 0 || r.check.unverified > 0)) return `ERROR: ${r.check.incompleteFinal} device(s) could not complete the final sync; ${r.check.unverified} acked message(s) could not be checked`;
  return 'ok: every acked message stored once at its seq, one content per seq everywhere, no gaps';
}

function charts(r: RunRecord): Chart[] {
  const tl = r.timeline;
  const rate: Array<[number, number]> = [];
  for (let i = 1; i < tl.length; i++) rate.push([tl[i].t / 1000, (tl[i].acks - tl[i - 1].acks) / Math.max(0.001, (tl[i].t - tl[i - 1].t) / 1000)]);
  const top = Math.max(1, ...rate.map(([, y]) => y));
  const fault: Array<[number, number]> = [];
  for (const c of r.cycles) fault.push([c.startT / 1000, 0], [c.startT / 1000, top], [c.endT / 1000, top], [c.endT / 1000, 0]);
  return [
    { title: 'send_acks per second (fault windows as boxes)', xLabel: 's since start', yLabel: 'acks/s', series: [{ label: 'acks/s', points: rate }, { label: 'fault', points: fault }] },
    { title: 'sends in outboxes, connected devices', xLabel: 's since start', yLabel: 'count', series: [{ label: 'pending sends', points: tl.map((p) => [p.t / 1000, p.pending]) }, { label: 'connected devices', points: tl.map((p) => [p.t / 1000, p.connected]) }] },
  ];
}

/** Write result.json, report.html (and history / logs when it went wrong); returns the folder. */
export function writeRun(r: RunRecord, history: History | null, logs: Array<{ name: string; file: string }>, o: { base?: string; keepHistory?: boolean }): string {
  const dir = resultDir(`chaos-${r.scenario}`, r.startedAt, o.base);
  const load = loadSummary(r.timeline);
  const envelope = {
    scenario: `chaos-${r.scenario}`,
    startedAt: r.startedAt.toISOString(),
    finishedAt: r.finishedAt.toISOString(),
    command: r.command,
    machine: r.machine,
    code: r.code,
    config: r.config,
    verdict: verdict(r),
    exitCode: r.exitCode,
    errors: r.errors,
    figures: { check: r.check, clients: r.stats, cycles: r.cycles, loadAvg: load },
    timeline: r.timeline,
  };
  writeJson(path.join(dir, 'result.json'), envelope);
  const failed = r.exitCode !== 0;
  if (history && (failed || o.keepHistory)) writeFileSync(path.join(dir, 'history.json.gz'), gzipSync(JSON.stringify(history)));
  if (failed)
    for (const l of logs)
      try {
        if (existsSync(l.file)) copyFileSync(l.file, path.join(dir, l.name));
      } catch {
        // best effort
      }
  const tables: ReportTable[] = [
    { title: 'Result', header: SUMMARY_HEADER, rows: [summaryRow(r)] },
    {
      title: 'Cycles',
      header: ['cycle', 'fault', 'held ms', 'shards moved after ms', 'served again after ms', 'notes'],
      rows: r.cycles.map((c) => [c.cycle, c.fault, c.faultMs, c.movedAfterMs === undefined ? '-' : c.movedAfterMs === null ? 'not moved' : c.movedAfterMs, c.recoveredMs, (c.notes ?? []).join('; ')]),
    },
  ];
  if (r.check) {
    const ex = Object.entries(r.check.examples).flatMap(([k, list]) => (list ?? []).map((s) => [k, s]));
    if (ex.length) tables.push({ title: 'Examples (up to 10 per count)', header: ['count', 'case'], rows: ex });
  }
  writeReport(path.join(dir, 'report.html'), {
    title: `Switchboard chaos: ${r.scenario}`,
    envelope,
    tables,
    charts: charts(r),
    meta: [
      `command: ${r.command}`,
      `code: ${codeLabel(r.code)}${r.code.modified.length ? ` (${r.code.modified.join(', ')})` : ''}`,
      `started ${envelope.startedAt}, finished ${envelope.finishedAt}`,
      `machine: ${r.machine.cpus} x ${r.machine.cpuModel}, ${r.machine.totalMemGiB} GiB, node ${r.machine.node}; load average during the run ${load.mean} (max ${load.max})`,
      `verdict: ${verdict(r)}`,
    ],
    notes: [
      'lost: acked, but not stored at its acked seq with its content in every member device\'s final full sync; seq acked twice: one (conversation, seq) acked to different messages; acks moved: one message acked at different seqs; stored twice: one client_msg_id at two seqs; disagreements: (conversation, seq) shown to devices with different content (live, sync, final); gaps: seqs missing below the highest stored one; unacked stored: stored though never acked (fine).',
      ...r.errors.map((e) => `error: ${e}`),
    ],
  });
  return dir;
}

// ---- docs/CHAOS.md -----------------------------------------------------------------

export const DOC = path.join(ROOT, 'docs', 'CHAOS.md');
const START = '<!-- chaos-results:start -->';
const END = '<!-- chaos-results:end -->';
export const DOC_HEADER = ['scenario', 'settings', ...SUMMARY_HEADER.slice(1), 'code', 'result', 'date'];

/** The settings that shape a run, from its config: lease TTL and fault length (cells), rate, pipelining, conversations. */
export function settingsOf(config: Record<string, unknown>): string {
  const p = (config.params ?? {}) as Record<string, number>;
  const w = (config.workload ?? {}) as Record<string, number>;
  const sut = (config.sut ?? {}) as Record<string, unknown>;
  const out: string[] = [];
  if (sut.kind === 'cell') out.push(`TTL ${p.leaseTtlSec} s`);
  if (config.scenario === 'owner-freeze') out.push(`freeze ${p.freezeFactor} x TTL`);
  if (config.scenario === 'partition') out.push(`cut ${p.partitionFactor} x TTL`);
  out.push(`${w.rate} msg/s`, `${w.maxInflight} in flight`, `${w.directs} 1:1 + ${w.groups} group per node`);
  return out.join(', ');
}

function docRow(r: RunRecord, dir: string): Array<string | number> {
  const s = summaryRow(r);
  return [s[0], settingsOf(r.config), ...s.slice(1), codeLabel(r.code), path.relative(ROOT, path.resolve(dir)), r.startedAt.toISOString().slice(0, 16).replace('T', ' ')];
}

function mdRow(cells: Array<string | number>): string {
  return `| ${cells.map((c) => String(c).replaceAll('|', '\\|')).join(' | ')} |`;
}

/**
 * Put `row` into the results table between the markers, replacing a row with the same
 * scenario, settings and code (pure: the file's text in, the new text out).
 */
export function upsertRow(doc: string, row: Array<string | number>): string {
  const s = doc.indexOf(START);
  const e = doc.indexOf(END);
  if (s < 0 || e < s) throw new Error(`docs/CHAOS.md has no ${START} ... ${END} block`);
  const body = doc.slice(s + START.length, e).split('\n').filter((l) => l.startsWith('|'));
  const rows = body.slice(2); // header + separator
  const key = (cells: string[]): string => ['scenario', 'settings', 'code'].map((h) => cells[DOC_HEADER.indexOf(h)]).join('|');
  const cellsOf = (l: string): string[] => l.slice(2, -2).split(' | ');
  const mine = row.map(String);
  const kept = rows.filter((l) => key(cellsOf(l)) !== key(mine));
  const table = [mdRow(DOC_HEADER), mdRow(DOC_HEADER.map(() => '---')), ...kept, mdRow(row)].join('\n');
  return `${doc.slice(0, s + START.length)}\n${table}\n${doc.slice(e)}`;
}

export function recordInDoc(r: RunRecord, dir: string): void {
  if (!existsSync(DOC)) return;
  writeFileSync(DOC, upsertRow(readFileSync(DOC, 'utf8'), docRow(r, dir)));
}

/**
 * The row of an earlier run from its result.json (for runs made from another checkout,
 * e.g. a worktree at an older commit with --no-doc): `npm run chaos -- record <dir>`.
 */
export function recordResultInDoc(dir: string): Array<string | number> {
  const j = JSON.parse(readFileSync(path.join(dir, 'result.json'), 'utf8'));
  const r: RunRecord = {
    scenario: String(j.scenario).replace(/^chaos-/, ''),
    command: j.command,
    startedAt: new Date(j.startedAt),
    finishedAt: new Date(j.finishedAt),
    machine: j.machine,
    code: j.code,
    config: j.config,
    cyclesAsked: j.config.cycles,
    cycles: j.figures.cycles,
    check: j.figures.check,
    stats: j.figures.clients,
    timeline: j.timeline,
    errors: j.errors,
    exitCode: j.exitCode,
  };
  const row = docRow(r, dir);
  writeFileSync(DOC, upsertRow(readFileSync(DOC, 'utf8'), row));
  return row;
}

export { machineInfo };
