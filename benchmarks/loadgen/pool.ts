/**
 * The coordinator's side of the load generator: forks client worker processes, one
 * source address each (127.0.0.2, .3, ...), hands each its slice of a job, and sums
 * their progress. A worker that fails or exits early fails the whole run: a benchmark
 * with a silently missing slice would report wrong figures.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { emptyProgress, type FromWorker, type Job, type ToWorker, type WorkerProgress, type WorkerResult } from './messages.js';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

/** Each process may hold 20,000 files; leave room for the runtime's own descriptors. */
export const MAX_SOCKETS_PER_WORKER = 19_000;

/** Split `total` into `parts` near-equal slices. */
export function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

export function workersFor(sockets: number, perWorker: number): number {
  return Math.max(1, Math.ceil(sockets / Math.min(perWorker, MAX_SOCKETS_PER_WORKER)));
}

export class WorkerPool {
  readonly progress: WorkerProgress[];
  private readonly results: Array<WorkerResult | null>;
  private readonly ready = new Set<number>();
  private failure: Error | null = null;
  private wake: () => void = () => {};

  private constructor(private readonly procs: ChildProcess[]) {
    this.progress = procs.map(() => emptyProgress());
    this.results = procs.map(() => null);
    procs.forEach((proc, i) => {
      proc.on('message', (m: FromWorker) => {
        if (m.t === 'progress') this.progress[i] = m.p;
        else if (m.t === 'ready') {
          this.progress[i] = m.p;
          this.ready.add(i);
        } else if (m.t === 'done') {
          this.progress[i] = m.r.progress;
          this.results[i] = m.r;
        } else if (m.t === 'failed') this.failure ??= new Error(`worker ${i} failed: ${m.error}`);
        this.wake();
      });
      proc.on('exit', (code) => {
        if (this.results[i] === null) this.failure ??= new Error(`worker ${i} exited with ${code} before finishing`);
        this.wake();
      });
    });
  }

  /**
   * Fork `jobs.length` workers; worker i binds its sockets to 127.0.0.(2 + firstAddress + i)
   * (a second pool against the same server passes the first one's size, so the two
   * do not share one source address's ephemeral ports).
   */
  static start(jobs: Job[], secret: string, tag: string, firstAddress = 0): WorkerPool {
    if (firstAddress + jobs.length > 250) throw new Error('at most 250 workers (127.0.0.2 .. 127.0.0.251)');
    const procs = jobs.map((job, index) => {
      const proc = fork(WORKER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const m: ToWorker = { t: 'init', init: { index, localAddress: `127.0.0.${2 + firstAddress + index}`, secret, tag: `${tag}w${index}`, job } };
      proc.send(m);
      return proc;
    });
    return new WorkerPool(procs);
  }

  get size(): number {
    return this.procs.length;
  }

  total(): WorkerProgress {
    const t = emptyProgress();
    for (const p of this.progress) for (const k of Object.keys(t) as Array<keyof WorkerProgress>) t[k] += p[k];
    return t;
  }

  /** Wait until `cond` holds, calling `tick` every `everyMs`; rejects on a worker failure or timeout. */
  async until(cond: () => boolean, o: { timeoutMs: number; everyMs?: number; tick?: () => void; what: string }): Promise<void> {
    const deadline = Date.now() + o.timeoutMs;
    let lastTick = 0;
    for (;;) {
      if (this.failure) throw this.failure;
      if (cond()) return;
      if (Date.now() > deadline) throw new Error(`timed out after ${o.timeoutMs} ms waiting for ${o.what}`);
      if (o.tick && Date.now() - lastTick >= (o.everyMs ?? 1000)) {
        lastTick = Date.now();
        o.tick();
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  }

  allReady(): boolean {
    return this.ready.size === this.procs.length;
  }

  allDone(): boolean {
    return this.results.every((r) => r !== null);
  }

  broadcast(m: ToWorker): void {
    for (const p of this.procs) if (p.connected) p.send(m);
  }

  doneResults(): WorkerResult[] {
    return this.results.filter((r): r is WorkerResult => r !== null);
  }

  /** Kill any worker still running (by its own pid, never by name). */
  stop(): void {
    for (const p of this.procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }
}
