/**
 * Reads another process's memory and CPU from /proc (Linux only). The node under test
 * runs worker threads; /proc/<pid>/stat sums CPU over all of them, which is what we
 * want: the cost of the whole node, not of its main thread.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second for utime/stime. 100 on every mainstream Linux build. */
const CLK_TCK = 100;

export interface ProcSample {
  atMs: number;
  rssBytes: number;
  /** Peak RSS so far (VmHWM). */
  hwmBytes: number;
  /** User + system CPU seconds since the process started. */
  cpuSec: number;
  threads: number;
}

export function sampleProc(pid: number): ProcSample | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces and parens: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => {
      const m = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status);
      return m ? Number(m[1]) * 1024 : 0;
    };
    const thr = /^Threads:\s+(\d+)/m.exec(status);
    return {
      atMs: Date.now(),
      rssBytes: kb('VmRSS'),
      hwmBytes: kb('VmHWM'),
      cpuSec: (utime + stime) / CLK_TCK,
      threads: thr ? Number(thr[1]) : 0,
    };
  } catch {
    return null; // the process is gone
  }
}

/** CPU use between two samples, as a percentage of one core (200% = both of 2 cores). */
export function cpuPercent(a: ProcSample, b: ProcSample): number {
  const dt = (b.atMs - a.atMs) / 1000;
  return dt > 0 ? ((b.cpuSec - a.cpuSec) / dt) * 100 : 0;
}

export const MiB = 1024 * 1024;

export interface ProcTimelinePoint {
  tSec: number;
  rssMiB: number;
  cpuPct: number;
}

/**
 * Samples a process once a second for the RSS-over-time plot and for average CPU over
 * a measured window (mark() starts a window, since() closes it).
 */
export class ProcWatcher {
  readonly timeline: ProcTimelinePoint[] = [];
  private timer: NodeJS.Timeout | null = null;
  private prev: ProcSample | null;
  private readonly t0 = Date.now();
  latest: ProcSample | null;

  constructor(readonly pid: number) {
    this.prev = this.latest = sampleProc(pid);
  }

  start(): this {
    this.timer = setInterval(() => {
      const s = sampleProc(this.pid);
      if (!s) return;
      const cpu = this.prev ? cpuPercent(this.prev, s) : 0;
      this.timeline.push({ tSec: Math.round((s.atMs - this.t0) / 100) / 10, rssMiB: Math.round((s.rssBytes / MiB) * 10) / 10, cpuPct: Math.round(cpu) });
      this.prev = this.latest = s;
    }, 1000);
    this.timer.unref();
    return this;
  }

  /** The most recent one-second CPU figure. */
  get cpuNow(): number {
    return this.timeline.at(-1)?.cpuPct ?? 0;
  }

  mark(): ProcSample | null {
    return sampleProc(this.pid);
  }

  /** Average CPU % and RSS figures since a mark. */
  since(m: ProcSample | null): { cpuPct: number; rssStartMiB: number; rssEndMiB: number; rssPeakMiB: number } | null {
    const now = sampleProc(this.pid);
    if (!m || !now) return null;
    return {
      cpuPct: Math.round(cpuPercent(m, now)),
      rssStartMiB: Math.round(m.rssBytes / MiB),
      rssEndMiB: Math.round(now.rssBytes / MiB),
      rssPeakMiB: Math.round(now.hwmBytes / MiB),
    };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
