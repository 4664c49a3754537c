/**
 * One chaos run, start to end:
 *   1. start the system under test (sut.ts) and the workload (workload.ts);
 *   2. traffic, then `cycles` times: a fault (nemesis.ts) and `gap` of traffic, with a
 *      progress line per cycle; it stops cycling when `seconds` is used up;
 *   3. the quiet period: no new messages, outboxes drained, then a full sync of every
 *      device;
 *   4. the history check (checker.ts) and the report (report.ts).
 * Everything it started is stopped at the end, whatever happened; the whole run is
 * bounded (a watchdog aborts it past its budget).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { badTotal, checkHistory, type CheckResult } from './checker.js';
import { emptyHistory } from './history.js';
import type { CycleOutcome, NemesisCtx } from './nemesis.js';
import { codeInfo, codeLabel, machineInfo, recordInDoc, writeRun, type RunRecord, type TimelinePoint } from './report.js';
import { scenario as findScenario, type Params } from './scenarios.js';
import { Cell, SingleNode, type Sut } from './sut.js';
import { Workload, type WorkloadOptions } from './workload.js';
import { setupChain } from './iptables.js';

export interface ChaosOptions {
  scenario: string;
  cycles?: number;
  /** Budget for the fault cycles, s (no new cycle starts after it). */
  seconds?: number;
  params?: Partial<Params>;
  workload?: Partial<WorkloadOptions>;
  nodes?: number;
  /** host:port of a shared Cassandra (cell scenarios that do not need a private one). */
  cassandra?: string | null;
  /** Quiet period: how long outboxes may take to drain, s. */
  drainSeconds?: number;
  finalSyncSeconds?: number;
  /** Where results/<timestamp>-chaos-<scenario>/ goes (default: the repo's results/). */
  outBase?: string;
  /** Put the run's row into docs/CHAOS.md. */
  doc?: boolean;
  keepHistory?: boolean;
  command?: string;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export interface ChaosResult {
  dir: string;
  check: CheckResult | null;
  bad: number;
  cycles: CycleOutcome[];
  errors: string[];
  exitCode: number;
  durationSec: number;
}

export const DEFAULT_PARAMS: Params = { leaseTtlSec: 5, freezeFactor: 1.6, partitionFactor: 2, stopMs: [1_500, 4_000], downMs: 3_000, gapMs: 2_500 };

export const DEFAULT_WORKLOAD: Omit<WorkloadOptions, 'attemptTimeoutMs'> = {
  directs: 1,
  groups: 1,
  groupSize: 4,
  rate: 100,
  maxInflight: 64,
  impatientFraction: 0.25,
  impatientTimeoutMs: 2_000,
  maxOutbox: 2_000,
};

class Aborted extends Error {}

export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const sc = findScenario(o.scenario);
  if (!sc) throw new Error(`unknown scenario ${o.scenario}`);
  const log = o.log ?? ((l: string) => console.log(l));
  const p: Params = { ...DEFAULT_PARAMS, ...o.params };
  const cyclesAsked = o.cycles ?? sc.defaultCycles;
  const seconds = o.seconds ?? 900;
  const wopts: WorkloadOptions = { ...DEFAULT_WORKLOAD, attemptTimeoutMs: sc.patientTimeoutMs(p), ...o.workload };
  const startedAt = new Date();
  const t0 = Date.now();
  const machine = machineInfo();
  const code = codeInfo();
  const history = emptyHistory();
  const errors: string[] = [];
  const cycles: CycleOutcome[] = [];
  const timeline: TimelinePoint[] = [];
  const workDir = mkdtempSync(path.join(tmpdir(), 'sb-chaos-'));
  let sut: Sut | null = null;
  let workload: Workload | null = null;
  let check: CheckResult | null = null;
  let logs: Array<{ name: string; file: string }> = [];

  // Abort: the caller's signal, or the watchdog past the whole budget.
  const ac = new AbortController();
  const onAbort = (): void => ac.abort(o.signal?.reason);
  o.signal?.addEventListener('abort', onAbort);
  const budgetMs = (sc.privateCassandra ? 240_000 : 120_000) + seconds * 1000 + sc.cycleDeadlineMs(p) + ((o.drainSeconds ?? 60) + (o.finalSyncSeconds ?? 60)) * 1000 + 60_000;
  const watchdog = setTimeout(() => ac.abort(new Error(`the run exceeded its budget of ${Math.round(budgetMs / 1000)} s`)), budgetMs);
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve, reject) => {
      if (ac.signal.aborted) return reject(new Aborted(String(ac.signal.reason ?? 'aborted')));
      const t = setTimeout(() => {
        ac.signal.removeEventListener('abort', stop);
        resolve();
      }, ms);
      const stop = (): void => {
        clearTimeout(t);
        reject(new Aborted(String(ac.signal.reason ?? 'aborted')));
      };
      ac.signal.addEventListener('abort', stop, { once: true });
    });
  const elapsed = (): string => `${Math.round((Date.now() - t0) / 1000)} s`;
  const acksSoFar = (): number => history.acks.length;

  let sampler: NodeJS.Timeout | null = null;
  const sample = (): void => {
    timeline.push({ t: Date.now() - t0, acks: history.acks.length, pending: workload?.pending() ?? 0, connected: workload?.connectedCount() ?? 0, load1: Math.round(os.loadavg()[0] * 100) / 100 });
  };

  log(`chaos ${sc.name}: ${sc.about}`);
  log(`code ${codeLabel(code)}${code.modified.length ? ` (uncommitted: ${code.modified.join(', ')})` : ''}; machine ${machine.cpus} x ${machine.cpuModel}, load ${machine.loadAvg1m}`);
  try {
    // ---- 1. system under test and workload
    if (sc.netns) await setupChain();
    if (sc.sut === 'single') sut = await SingleNode.start(path.join(workDir, 'single'));
    else
      sut = await Cell.start({
        nodes: o.nodes ?? 3,
        leaseTtlSec: p.leaseTtlSec,
        cassandra: sc.privateCassandra ? null : (o.cassandra ?? null),
        nodeGids: sc.nodeGids,
        log,
      });
    logs = sut.logFiles();
    log(`${sut.kind === 'cell' ? `cell of ${sut.nodeCount} nodes` : 'one node'} up after ${elapsed()}: ${JSON.stringify(sut.describe())}`);
    workload = await Workload.create(sut, history, wopts, log);
    await workload.connectAll(60_000);
    sampler = setInterval(sample, 1_000);
    workload.startSending();
    const warm = Date.now() + 30_000;
    while (history.acks.length < workload.devices.length && Date.now() < warm) await sleep(100);
    log(`traffic flowing: ${history.acks.length} acks after warm-up (${elapsed()})`);

    // ---- 2. fault cycles
    let lastAcks = history.acks.length;
    for (let c = 1; c <= cyclesAsked; c++) {
      if (Date.now() - t0 > seconds * 1000) {
        log(`time budget of ${seconds} s used up after ${c - 1} cycles`);
        break;
      }
      await sleep(p.gapMs);
      const ctx: NemesisCtx = { sut, workload, cycle: c, sleep, log };
      const deadline = sc.cycleDeadlineMs(p);
      let timer: NodeJS.Timeout | undefined;
      try {
        const out = await Promise.race([
          sc.cycle(ctx, p, t0, acksSoFar),
          new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`cycle ${c} did not complete within ${deadline / 1000} s`)), deadline))),
        ]);
        cycles.push(out);
        log(progressLine(sc.name, c, cyclesAsked, out, history, workload, lastAcks, elapsed()));
        lastAcks = history.acks.length;
        // Every node the nemesis did not leave down must be running: anything else crashed.
        const died = Array.from({ length: sut.nodeCount }, (_, i) => i).filter((i) => !sut!.isUp(i));
        if (died.length) {
          for (const i of died) errors.push(`cycle ${c}: ${sut.nodeName(i)} exited on its own (${sut.exitOf(i)}); see its log`);
          log(`cycle ${c}: ${died.map((i) => `${sut!.nodeName(i)} exited on its own (${sut!.exitOf(i)})`).join(', ')}; no more cycles`);
          break;
        }
      } catch (e) {
        if (e instanceof Aborted) throw e;
        errors.push(`cycle ${c}: ${(e as Error).message}`);
        log(`cycle ${c}/${cyclesAsked} FAILED: ${(e as Error).message}; no more cycles`);
        break;
      } finally {
        clearTimeout(timer);
      }
    }

    // ---- 3. quiet period and the final full sync
    for (let i = 0; i < sut.nodeCount; i++) {
      const msg = `${sut.nodeName(i)} was not running after the cycles (${sut.exitOf(i)})`;
      if (!sut.isUp(i) && !errors.some((e) => e.includes(`${sut!.nodeName(i)} exited on its own`))) errors.push(msg);
    }
    for (const what of await sut.revive()) log(what);
    await sleep(p.gapMs);
    workload.stopSending();
    const drainS = o.drainSeconds ?? 60;
    log(`quiet: no new messages; draining ${workload.pending()} pending sends (up to ${drainS} s)...`);
    const drained = await workload.drain(Date.now() + drainS * 1000);
    if (!drained) log(`  ${workload.pending()} sends still unacked after ${drainS} s (reported as unresolved)`);
    await sleep(1_000);
    log(`final full sync of ${workload.devices.length} devices...`);
    await workload.finalSync(Date.now() + (o.finalSyncSeconds ?? 60) * 1000);

    // ---- 4. the check
    check = checkHistory(history);
  } catch (e) {
    const msg = e instanceof Aborted ? `aborted: ${e.message}` : ((e as Error).stack ?? String(e));
    errors.push(msg);
    log(`run failed: ${msg}`);
  } finally {
    clearTimeout(watchdog);
    o.signal?.removeEventListener('abort', onAbort);
    if (sampler) clearInterval(sampler);
    sample();
  }

  const bad = check ? badTotal(check) : 0;
  const exitCode = bad > 0 ? 1 : errors.length || !check || check.incompleteFinal > 0 || check.unverified > 0 ? 3 : 0;
  const record: RunRecord = {
    scenario: sc.name,
    command: o.command ?? `npm run chaos -- ${sc.name}`,
    startedAt,
    finishedAt: new Date(),
    machine,
    code,
    config: { scenario: sc.name, cycles: cyclesAsked, seconds, params: p, workload: wopts, sut: sut?.describe() ?? null },
    cyclesAsked,
    cycles,
    check,
    stats: workload?.stats() ?? null,
    timeline,
    errors,
    exitCode,
  };
  let dir = '';
  try {
    dir = writeRun(record, history, logs, { base: o.outBase, keepHistory: o.keepHistory });
  } catch (e) {
    errors.push(`report: ${(e as Error).message}`);
  }
  // Stop everything (bounded: a hung stop must not keep the run alive).
  await workload?.close().catch(() => undefined);
  let stopTimer: NodeJS.Timeout | undefined;
  await Promise.race([sut?.stop().catch((e) => log(`stopping: ${(e as Error).message}`)), new Promise((r) => (stopTimer = setTimeout(r, 60_000)))]);
  clearTimeout(stopTimer);
  rmSync(workDir, { recursive: true, force: true });
  if (o.doc && dir) recordInDoc(record, dir);
  const durationSec = Math.round((record.finishedAt.getTime() - t0) / 1000);
  printSummary(log, record, check, dir);
  return { dir, check, bad, cycles, errors, exitCode, durationSec };
}

function progressLine(name: string, c: number, of: number, out: CycleOutcome, h: ReturnType<typeof emptyHistory>, w: Workload, lastAcks: number, elapsed: string): string {
  const running = checkHistory({ ...h, finals: [] });
  const s = w.stats();
  const moved = out.movedAfterMs === undefined ? '' : out.movedAfterMs === null ? '; shards not moved' : `; shards moved after ${(out.movedAfterMs / 1000).toFixed(1)} s`;
  return (
    `[${name}] cycle ${c}/${of}: ${out.fault}${moved}; served again ${(out.recoveredMs / 1000).toFixed(1)} s after healing` +
    ` | acks ${h.acks.length} (+${h.acks.length - lastAcks}), acked msgs ${running.acked}, pending ${w.pending()}, resends ${s.resends}, dropped conns ${s.deadConnections}` +
    ` | seq acked twice ${running.seqAckedTwice}, acks moved ${running.ackMoved}, disagreements ${running.disagreements} | ${elapsed}, load ${os.loadavg()[0].toFixed(2)}`
  );
}

function printSummary(log: (s: string) => void, r: RunRecord, check: CheckResult | null, dir: string): void {
  log('');
  if (check) {
    log(
      `${r.scenario}: ${r.cycles.length}/${r.cyclesAsked} cycles; sent ${check.sent}, acked ${check.acked}, stored ${check.storedMessages} in ${check.conversations} conversations` +
        ` | lost ${check.lost}, seq acked twice ${check.seqAckedTwice}, acks moved ${check.ackMoved}, stored twice ${check.duplicates}, disagreements ${check.disagreements}, gaps ${check.gaps}` +
        ` | unacked stored ${check.unackedStored}, unresolved ${check.unresolved}, failed ${check.failed}, incomplete final syncs ${check.incompleteFinal}, unverified ${check.unverified}`,
    );
    for (const [k, list] of Object.entries(check.examples)) for (const e of (list ?? []).slice(0, 3)) log(`  ${k}: ${e}`);
  }
  for (const e of r.errors) log(`error: ${e.split('\n')[0]}`);
  log(`exit ${r.exitCode}${dir ? `; result: ${path.relative(process.cwd(), dir)}/result.json (report.html beside it)` : ''}`);
}
