/**
 * Adapter for worker threads (the socket shards).
 *
 * Entries ending in `.ts`/`.mts` start through ts_worker_boot.mjs, which registers tsx
 * in the thread (`--import tsx` is not inherited by workers on Node 20); `.js`/`.mjs`
 * entries start directly.
 *
 * Cooperative shutdown. A thread that ends while it still holds uWebSockets.js sockets
 * (by throwing, `worker.terminate()` or `process.exit`) aborts the WHOLE process with
 * SIGABRT. So stopping is a protocol: post `{ type: '$sup:stop', deadlineMs }`, wait for
 * the thread to close its sockets and exit by itself (thread_side.ts does its half),
 * and only when the spec's shutdown timeout passes call `worker.terminate()`, the
 * forced kill. Give uWS shards a shutdown timeout long enough to drain.
 *
 * Hung threads. With `heartbeat` set, the adapter pings the thread and declares it hung
 * when a pong is `timeoutMs` late. A hung uWS thread can neither be terminated (abort)
 * nor left alone, so by default (`onHung: 'escalate'`) the child exits with reason
 * `hung`: it is abandoned, never killed, and every supervisor up to the top gives up,
 * so the host logs the crash report and exits non-zero for the OS-level restarter
 * (host_exit.ts). A thread that holds nothing native may use `onHung: 'terminate'`,
 * which terminates it and reports a plain crash, so it is restarted like any other.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ChildHandle, ChildIdentity, StartFn } from './child_handle.js';
import type { Clock, TimerHandle } from './clock.js';
import { ChildHungError, ThreadExitError, toError } from './errors.js';
import { crashed, NORMAL, SHUTDOWN, type ExitReason } from './exit_reason.js';
import { isThreadToSupervisor, type SupervisorToThread } from './thread_messages.js';

export interface HeartbeatOptions {
  /** Time between a pong and the next ping. */
  readonly intervalMs: number;
  /** How long a ping may go unanswered before the thread is hung. */
  readonly timeoutMs: number;
}

export interface ThreadChildOptions {
  /** The thread's entry: a path (resolved against the cwd) or a file URL. */
  readonly entry: string | URL;
  /**
   * Passed to the thread as `workerData` (plus `__entry` for TypeScript entries). A
   * function is called for each spawn: for what each thread must get fresh (shared
   * memory a crashed predecessor may have left half-written).
   */
  readonly workerData?: Record<string, unknown> | (() => Record<string, unknown>);
  /** Other Worker options (name, resourceLimits, env, stdout...). */
  readonly workerOptions?: Omit<WorkerOptions, 'workerData'>;
  /** Resolve start on the thread's `$sup:ready` instead of on `online`. */
  readonly awaitReady?: boolean;
  /** Fail the start (and terminate the thread) if it is not up by then. */
  readonly startTimeoutMs?: number;
  /** Liveness pings; off by default. */
  readonly heartbeat?: HeartbeatOptions;
  /** What a missed heartbeat does; see the module doc. Default `escalate`. */
  readonly onHung?: 'escalate' | 'terminate';
  /** Called with each new Worker (on every restart), to wire application channels. */
  readonly onSpawn?: (worker: Worker) => void;
  /** The thread's own (non-`$sup:`) messages. */
  readonly onMessage?: (message: unknown, worker: Worker) => void;
}

const BOOT_URL = new URL('./ts_worker_boot.mjs', import.meta.url);

/** A start function that runs `options.entry` in a fresh worker thread on every (re)start. */
export function threadChild(options: ThreadChildOptions): StartFn {
  const entry = typeof options.entry === 'string' ? pathToFileURL(resolvePath(options.entry)) : options.entry;
  const isTypeScript = /\.m?ts$/.test(entry.pathname);
  return async (ctx) => {
    const data = typeof options.workerData === 'function' ? options.workerData() : options.workerData;
    const workerData = isTypeScript ? { ...data, __entry: entry.href } : data;
    const worker = new Worker(isTypeScript ? BOOT_URL : entry, { ...options.workerOptions, workerData });
    const handle = new ThreadHandle(worker, ctx.clock, options, `worker thread '${ctx.supervisor}/${ctx.childId}'`);
    options.onSpawn?.(worker);
    await handle.started;
    handle.startHeartbeat();
    return handle;
  };
}

class ThreadHandle implements ChildHandle {
  readonly exited: Promise<ExitReason>;
  /** Resolves when up (online or ready); rejects if the thread ends or times out first. */
  readonly started: Promise<void>;
  private settle!: (reason: ExitReason) => void;
  private settled = false;
  private up = false;
  private stopRequested = false;
  private hungError: ChildHungError | undefined;
  private lastError: Error | undefined;
  private readonly threadId: number;
  private seq = 0;
  private timer: TimerHandle | undefined;

  constructor(
    private readonly worker: Worker,
    private readonly clock: Clock,
    private readonly options: ThreadChildOptions,
    private readonly what: string,
  ) {
    this.threadId = worker.threadId;
    this.exited = new Promise((resolve) => {
      this.settle = resolve;
    });
    this.started = new Promise((resolve, reject) => {
      const startTimer =
        options.startTimeoutMs === undefined
          ? undefined
          : clock.setTimeout(() => {
              if (this.up) return;
              reject(new Error(`${what} was not ${options.awaitReady ? 'ready' : 'online'} within ${options.startTimeoutMs} ms`));
              void worker.terminate();
            }, options.startTimeoutMs);
      const markUp = () => {
        if (this.up) return;
        this.up = true;
        if (startTimer !== undefined) clock.clearTimeout(startTimer);
        resolve();
      };
      if (!options.awaitReady) worker.once('online', markUp);
      worker.on('message', (message: unknown) => {
        if (!isThreadToSupervisor(message)) return options.onMessage?.(message, worker);
        if (message.type === '$sup:ready') markUp();
        else if (message.seq === this.seq) this.onPong();
      });
      worker.on('error', (error) => {
        this.lastError = toError(error);
      });
      worker.on('exit', (code) => {
        this.stopHeartbeat();
        if (startTimer !== undefined) clock.clearTimeout(startTimer);
        if (!this.up) reject(new ThreadExitError(code, this.lastError));
        this.end(this.reasonFor(code));
      });
    });
  }

  requestStop(deadlineMs: number): void {
    if (this.settled) return;
    this.stopRequested = true;
    this.stopHeartbeat();
    this.post({ type: '$sup:stop', deadlineMs });
  }

  kill(): void {
    this.stopRequested = true;
    this.stopHeartbeat();
    // A hung thread was abandoned on purpose; terminating it may abort the process.
    if (this.settled) return;
    void this.worker.terminate();
  }

  identity(): ChildIdentity {
    return { threadId: this.threadId };
  }

  startHeartbeat(): void {
    if (this.options.heartbeat === undefined || this.settled) return;
    this.ping();
  }

  private ping(): void {
    const heartbeat = this.options.heartbeat;
    if (heartbeat === undefined || this.settled || this.stopRequested) return;
    this.seq += 1;
    this.post({ type: '$sup:ping', seq: this.seq });
    this.timer = this.clock.setTimeout(() => this.declareHung(heartbeat.timeoutMs), heartbeat.timeoutMs);
  }

  private onPong(): void {
    const heartbeat = this.options.heartbeat;
    if (heartbeat === undefined || this.settled || this.stopRequested) return;
    this.stopHeartbeat();
    this.timer = this.clock.setTimeout(() => this.ping(), heartbeat.intervalMs);
  }

  private declareHung(silentForMs: number): void {
    this.timer = undefined;
    if (this.settled || this.stopRequested) return;
    this.hungError = new ChildHungError(this.what, silentForMs);
    if (this.options.onHung === 'terminate') {
      void this.worker.terminate();
      return;
    }
    this.end({ kind: 'hung', error: this.hungError });
  }

  private stopHeartbeat(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private reasonFor(code: number): ExitReason {
    if (this.stopRequested) return this.lastError === undefined ? SHUTDOWN : crashed(new ThreadExitError(code, this.lastError));
    if (this.hungError !== undefined) return crashed(this.hungError);
    if (code === 0 && this.lastError === undefined) return NORMAL;
    return crashed(new ThreadExitError(code, this.lastError));
  }

  private post(message: SupervisorToThread): void {
    try {
      this.worker.postMessage(message);
    } catch {
      // The thread is already gone; its exit event carries the reason.
    }
  }

  private end(reason: ExitReason): void {
    if (this.settled) return;
    this.settled = true;
    this.settle(reason);
  }
}
