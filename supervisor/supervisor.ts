/**
 * The supervisor: the I/O shell around the pure pieces (child_spec, restart_window,
 * strategy, exit_reason). It starts children in list order, watches their `exited`
 * promises, restarts by strategy within the restart window, and past the window stops
 * its children (in reverse) and fails upward through its own `exited`.
 *
 * Every change of the child list runs on one serial queue, so a child exit that lands
 * during a restart is handled after it, against the new state. An exit whose handle is
 * no longer the child's current handle is stale (we stopped or replaced it) and ignored.
 */
import type { ChildHandle, StartContext } from './child_handle.js';
import { childStatus, newRecord, type ChildRecord } from './child_record.js';
import { validateChildSpec, type ChildSpec, type ChildSpecInput } from './child_spec.js';
import type { Clock } from './clock.js';
import {
  ChildRunningError,
  ChildStartError,
  DuplicateChildError,
  SupervisorGaveUpError,
  SupervisorNotRunningError,
  UnknownChildError,
  toError,
} from './errors.js';
import { actionAfterExit, crashed, isAbnormal, SHUTDOWN, summarizeReason, type ExitReason } from './exit_reason.js';
import { errorInfo, formatReportLine, isProgress, reasonInfo, type SupervisorReport } from './reports.js';
import { admitRestart, type RestartLimits } from './restart_window.js';
import { shutdownChild } from './shutdown.js';
import { restartGroup, type Strategy } from './strategy.js';
import { SerialQueue } from './serial_queue.js';
import { validateSupervisorOptions, type SupervisorOptions } from './supervisor_options.js';
import type { ChildState, ChildStatus, SupervisorState, SupervisorTree } from './tree.js';

/** Reports without the fields every report shares; `emit` fills those in. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type ReportBody = DistributiveOmit<SupervisorReport, 'at' | 'supervisor'>;

export type ReportListener = (report: SupervisorReport) => void;

export class Supervisor {
  readonly name: string;
  /**
   * Settles once, when the supervisor is done: `shutdown` after `stop()`/`kill()`,
   * `error` (SupervisorGaveUpError or ChildStartError) when it gave up or failed to
   * start, `hung` when it gave up because of a hung child. A top-level host exits
   * non-zero on `error`/`hung` (see host_exit.ts).
   */
  readonly exited: Promise<ExitReason>;

  private settleExited!: (reason: ExitReason) => void;
  private status: SupervisorState = 'idle';
  private killed = false;
  private history: readonly number[] = [];
  private readonly strategy: Strategy;
  private readonly limits: RestartLimits;
  private readonly clock: Clock;
  private readonly log: (line: string) => void;
  private readonly logProgress: boolean;
  private readonly parentReport: ((report: SupervisorReport) => void) | undefined;
  private readonly children: ChildRecord[];
  private readonly queue = new SerialQueue();
  private readonly listeners = new Set<ReportListener>();

  /** Validates options and every child spec; throws before anything starts. */
  constructor(options: SupervisorOptions) {
    const o = validateSupervisorOptions(options);
    this.name = o.name;
    this.strategy = o.strategy;
    this.limits = { intensity: o.intensity, periodMs: o.periodMs };
    this.clock = o.clock;
    this.log = o.log;
    this.logProgress = o.logProgress;
    this.parentReport = o.parentReport;
    this.children = o.children.map(newRecord);
    this.exited = new Promise((resolve) => {
      this.settleExited = resolve;
    });
  }

  get state(): SupervisorState {
    return this.status;
  }

  /**
   * Start every child in list order. If one fails to start, the ones already started
   * are stopped in reverse, `exited` settles with the error, and this rejects with
   * `ChildStartError` naming the child.
   */
  start(): Promise<void> {
    return this.queue.run(async () => {
      if (this.status !== 'idle') throw new SupervisorNotRunningError(this.name, this.status, 'start it again');
      this.status = 'starting';
      for (const rec of this.children) {
        try {
          await this.startRecord(rec);
        } catch (error) {
          const failure = new ChildStartError(this.name, rec.spec.id, error);
          await this.stopAll();
          this.finish('failed', crashed(failure));
          throw failure;
        }
        if (this.killed) return;
      }
      this.status = 'running';
    });
  }

  /** Stop every child in reverse order, each within its shutdown timeout. Idempotent. */
  stop(): Promise<void> {
    return this.queue.run(async () => {
      if (this.status === 'stopped' || this.status === 'failed') return;
      this.status = 'stopping';
      await this.stopAll();
      this.finish('stopped', SHUTDOWN);
    });
  }

  /**
   * Kill every child now, without waiting for shutdown timeouts (a parent's forced kill
   * of this supervisor). Hung children are left alone: killing them may abort the process.
   */
  kill(): void {
    if (this.killed || this.status === 'stopped' || this.status === 'failed') return;
    this.killed = true;
    this.status = 'stopped';
    const exits: Promise<ExitReason>[] = [];
    for (const rec of [...this.children].reverse()) {
      const handle = rec.handle;
      if (handle === undefined) continue;
      rec.handle = undefined;
      rec.state = 'stopped';
      try {
        handle.kill();
      } catch {
        // `exited` still settles by the handle contract.
      }
      exits.push(handle.exited);
    }
    void Promise.all(exits).then(() => this.settleExited(SHUTDOWN));
  }

  /** Add a child at the end of the list and start it. Rejects (and forgets it) if it fails to start. */
  startChild(input: ChildSpecInput): Promise<ChildStatus> {
    let spec: ChildSpec;
    try {
      spec = validateChildSpec(input);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.queue.run(async () => {
      this.requireRunning(`start child '${spec.id}'`);
      if (this.find(spec.id) !== undefined) throw new DuplicateChildError(this.name, spec.id);
      const rec = newRecord(spec);
      this.children.push(rec);
      try {
        await this.startRecord(rec);
      } catch (error) {
        this.remove(rec);
        throw new ChildStartError(this.name, spec.id, error);
      }
      return childStatus(rec);
    });
  }

  /** Stop a child (shutdown timeout, then kill). It stays in the list, unless temporary. */
  terminateChild(id: string): Promise<void> {
    return this.queue.run(async () => {
      this.requireRunning(`terminate child '${id}'`);
      const rec = this.get(id);
      await this.shutdownRecord(rec, 'stopped');
      if (rec.spec.restart === 'temporary') this.remove(rec);
    });
  }

  /** Start a stopped child again (after `terminateChild`, or a transient child that ended). */
  restartChild(id: string): Promise<ChildStatus> {
    return this.queue.run(async () => {
      this.requireRunning(`restart child '${id}'`);
      const rec = this.get(id);
      if (rec.handle !== undefined || rec.state === 'hung') throw new ChildRunningError(this.name, id, 'restart');
      try {
        await this.startRecord(rec);
      } catch (error) {
        throw new ChildStartError(this.name, id, error);
      }
      return childStatus(rec);
    });
  }

  /** Forget a stopped child. */
  deleteChild(id: string): Promise<void> {
    return this.queue.run(async () => {
      const rec = this.get(id);
      if (rec.handle !== undefined || rec.state === 'hung') throw new ChildRunningError(this.name, id, 'delete');
      this.remove(rec);
    });
  }

  /** The children as data, in list order (OTP's `which_children`). */
  whichChildren(): ChildStatus[] {
    return this.children.map(childStatus);
  }

  /** This supervisor and everything under it, as data; see tree.ts `formatTree`. */
  tree(): SupervisorTree {
    return {
      name: this.name,
      strategy: this.strategy,
      state: this.status,
      recentRestarts: this.history.filter((t) => this.clock.now() - t < this.limits.periodMs).length,
      intensity: this.limits.intensity,
      periodMs: this.limits.periodMs,
      children: this.whichChildren(),
    };
  }

  /** Listen to reports from this supervisor and every supervisor below it. */
  onReport(listener: ReportListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Resolves once every child exit seen so far has been handled (restarts done). For
   * tests and tools; with a ManualClock, advance time for any shutdown timeouts first.
   */
  async idle(): Promise<void> {
    do {
      // Exits reach the queue through promise callbacks; let those land first.
      await new Promise((resolve) => setImmediate(resolve));
      await this.queue.drained();
    } while (this.queue.size > 0);
  }

  private async startRecord(rec: ChildRecord): Promise<void> {
    rec.state = 'starting';
    let handle: ChildHandle;
    try {
      handle = await rec.spec.start(this.contextFor(rec.spec.id));
    } catch (error) {
      rec.state = 'stopped';
      this.emit({ kind: 'start_failed', child: rec.spec.id, restarts: rec.restarts, error: errorInfo(error) });
      throw error;
    }
    if (this.killed) {
      // Killed while this child was starting: it must not outlive its supervisor.
      rec.state = 'stopped';
      handle.kill();
      return;
    }
    rec.handle = handle;
    rec.state = 'running';
    const identity = handle.identity?.() ?? {};
    this.emit({ kind: 'child_started', child: rec.spec.id, restarts: rec.restarts, ...identity });
    // A rejection here is a bug in this file; let it surface as an unhandled rejection
    // (which ends the process) rather than leave a supervisor silently wedged.
    void handle.exited.then((reason) => this.queue.run(() => this.handleExit(rec, handle, reason)));
  }

  private async handleExit(rec: ChildRecord, handle: ChildHandle, reason: ExitReason): Promise<void> {
    if (rec.handle !== handle || this.status !== 'running') return;
    rec.handle = undefined;
    rec.lastExit = reason;
    const action = actionAfterExit(rec.spec.restart, reason);
    this.emit({ kind: 'child_exited', child: rec.spec.id, reason: reasonInfo(reason), restarts: rec.restarts, action });
    switch (action) {
      case 'delete':
        this.remove(rec);
        return;
      case 'keep':
        rec.state = 'stopped';
        return;
      case 'escalate':
        rec.state = 'hung';
        return this.giveUp(rec, 'hung', reason);
      case 'restart':
        return this.restartFrom(rec, reason);
    }
  }

  /**
   * Restart `failed` and its strategy group. Each attempt counts against the window; a
   * start that fails counts as that child crashing again, and the loop goes on from it.
   */
  private async restartFrom(failed: ChildRecord, reason: ExitReason): Promise<void> {
    let current = failed;
    let why = reason;
    for (;;) {
      const verdict = admitRestart(this.history, this.clock.now(), this.limits);
      this.history = verdict.history;
      if (!verdict.allowed) return this.giveUp(current, 'intensity', why);

      const order = this.children.map((c) => c.spec.id);
      const group = restartGroup(this.strategy, order, current.spec.id)
        .map((id) => this.get(id))
        // Children stopped on purpose stay stopped; `restarting` ones are left over
        // from an attempt that failed part-way.
        .filter((c) => c === current || c.handle !== undefined || c.state === 'restarting');
      for (const c of [...group].reverse()) await this.shutdownRecord(c, 'restarting');
      const hung = group.find((c) => c.state === 'hung');
      if (hung !== undefined) return this.giveUp(hung, 'hung', hung.lastExit ?? why);
      for (const c of group) {
        c.state = 'restarting';
        // As in OTP, a temporary sibling stopped by a group restart is not restarted.
        if (c !== current && c.spec.restart === 'temporary') this.remove(c);
      }

      let failure: { rec: ChildRecord; error: unknown } | undefined;
      for (const c of group.filter((g) => this.children.includes(g))) {
        c.restarts += 1;
        try {
          await this.startRecord(c);
        } catch (error) {
          c.state = 'restarting';
          failure = { rec: c, error };
          break;
        }
        if (this.killed) return;
      }
      if (failure === undefined) return;
      current = failure.rec;
      why = crashed(toError(failure.error));
    }
  }

  /** Stop children, report, and fail upward through `exited`. */
  private async giveUp(culprit: ChildRecord, why: 'intensity' | 'hung', reason: ExitReason): Promise<void> {
    const message =
      why === 'intensity'
        ? `more than ${this.limits.intensity} restarts in ${this.limits.periodMs} ms; last exit: ${summarizeReason(reason)}`
        : `child is hung and cannot be reclaimed in-process: ${summarizeReason(reason)}`;
    const cause = 'error' in reason ? reason.error : undefined;
    const error = new SupervisorGaveUpError(this.name, why, culprit.spec.id, message, cause);
    this.emit({
      kind: 'gave_up',
      child: culprit.spec.id,
      why,
      reason: reasonInfo(reason),
      restarts: this.history.length,
      intensity: this.limits.intensity,
      periodMs: this.limits.periodMs,
    });
    this.status = 'stopping';
    await this.stopAll();
    this.finish('failed', why === 'hung' ? { kind: 'hung', error } : crashed(error));
  }

  private async stopAll(): Promise<void> {
    for (const rec of [...this.children].reverse()) await this.shutdownRecord(rec, 'stopped');
    for (const rec of this.children) if (rec.state === 'restarting' || rec.state === 'starting') rec.state = 'stopped';
  }

  private async shutdownRecord(rec: ChildRecord, after: ChildState): Promise<void> {
    const handle = rec.handle;
    if (handle === undefined) return;
    rec.state = 'stopping';
    const outcome = await shutdownChild(handle, rec.spec.shutdown, this.clock);
    rec.handle = undefined;
    rec.lastExit = outcome.reason;
    rec.state = outcome.reason.kind === 'hung' ? 'hung' : after;
    const expectedKill = rec.spec.shutdown === 'brutal_kill';
    if (isAbnormal(outcome.reason) || (outcome.how === 'killed' && !expectedKill)) {
      this.emit({
        kind: 'shutdown_error',
        child: rec.spec.id,
        how: outcome.how,
        reason: reasonInfo(outcome.reason),
        restarts: rec.restarts,
      });
    }
  }

  private finish(state: 'stopped' | 'failed', reason: ExitReason): void {
    this.status = state;
    this.settleExited(reason);
  }

  private requireRunning(operation: string): void {
    if (this.status !== 'running') throw new SupervisorNotRunningError(this.name, this.status, operation);
  }

  private contextFor(childId: string): StartContext {
    return { supervisor: this.name, childId, clock: this.clock, report: (report) => this.relay(report) };
  }

  private emit(body: ReportBody): void {
    this.relay({ ...body, at: this.clock.now(), supervisor: this.name } as SupervisorReport);
  }

  /** Deliver to listeners here, then up the tree; the top-level supervisor logs. */
  private relay(report: SupervisorReport): void {
    for (const listener of this.listeners) {
      try {
        listener(report);
      } catch {
        // A broken listener must not break supervision.
      }
    }
    if (this.parentReport !== undefined) this.parentReport(report);
    else if (this.logProgress || !isProgress(report)) this.log(formatReportLine(report));
  }

  private find(id: string): ChildRecord | undefined {
    return this.children.find((c) => c.spec.id === id);
  }

  private get(id: string): ChildRecord {
    const rec = this.find(id);
    if (rec === undefined) throw new UnknownChildError(this.name, id);
    return rec;
  }

  private remove(rec: ChildRecord): void {
    const index = this.children.indexOf(rec);
    if (index >= 0) this.children.splice(index, 1);
  }
}
