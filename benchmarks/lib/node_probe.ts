/**
 * The bench side of benchmarks/lib/thread_probe.mjs: the environment that loads the
 * probe into a node under test, per-thread CPU from /proc/<pid>/task/<tid>/stat named
 * by the probe's thread files, and the commands (forced GC in every thread, sampling
 * profiler start/stop) sent by file + SIGUSR2. A node started without the probe has
 * no SIGUSR2 handler (the default action kills it): only call command() on a probed node.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PROBE = fileURLToPath(new URL('./thread_probe.mjs', import.meta.url));
/** Clock ticks per second of /proc times (getconf CLK_TCK; 100 on Linux). */
const CLK_TCK = 100;

/** cpuSec from /proc/.../stat; waitSec: time runnable but waiting for a core (schedstat run_delay), 0 where the kernel does not say. */
export type ThreadCpu = Map<number, { role: string; cpuSec: number; waitSec: number }>;

export class NodeProbe {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'sb-probe-'));

  /** Environment for the node process: the probe in every thread, and --expose-gc when asked. */
  env(o: { exposeGc?: boolean } = {}): Record<string, string> {
    const opts = [process.env.NODE_OPTIONS ?? '', `--import ${PROBE}`, o.exposeGc ? '--expose-gc' : ''].filter(Boolean).join(' ');
    return { NODE_OPTIONS: opts, SB_PROBE_DIR: this.dir, SB_THREAD_PRELOAD: new URL('./thread_probe.mjs', import.meta.url).href };
  }

  /** tid -> role ('main', 'shard-0', the entry file of another worker thread) as the probe wrote them. */
  roles(o: { answering?: boolean } = {}): Map<number, string> {
    const out = new Map<number, string>();
    for (const f of readdirSync(this.dir)) {
      if (!f.startsWith('thread-')) continue;
      try {
        const t = JSON.parse(readFileSync(path.join(this.dir, f), 'utf8')) as { tid: number; role: string; answers?: boolean };
        if (o.answering && t.answers === false) continue;
        out.set(t.tid, t.role);
      } catch {
        /* being written */
      }
    }
    return out;
  }

  /** CPU seconds of every live thread of `pid`, named by role (unprobed threads: 'other'). */
  threadCpu(pid: number): ThreadCpu {
    const roles = this.roles();
    const out: ThreadCpu = new Map();
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      return out;
    }
    for (const t of tids) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        out.set(Number(t), { role: roles.get(Number(t)) ?? 'other', cpuSec: (Number(f[11]) + Number(f[12])) / CLK_TCK, waitSec: runDelaySec(pid, t) });
      } catch {
        /* the thread ended */
      }
    }
    return out;
  }

  /**
   * Send a command to every probed thread and wait (bounded) until each live one has
   * answered. Returns the tids that answered.
   */
  async command(pid: number, cmd: 'gc' | 'profile-start' | 'profile-stop', timeoutMs = 10_000): Promise<number[]> {
    for (const f of readdirSync(this.dir)) if (f.startsWith(`done-${cmd}-`)) rmSync(path.join(this.dir, f));
    writeFileSync(path.join(this.dir, 'command'), cmd);
    process.kill(pid, 'SIGUSR2');
    const live = (): number[] => [...this.roles({ answering: true }).keys()].filter((tid) => this.alive(pid, tid));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answered = readdirSync(this.dir).filter((f) => f.startsWith(`done-${cmd}-`)).map((f) => Number(f.split('-').pop()));
      if (live().every((tid) => answered.includes(tid)) || Date.now() > deadline) return answered;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** JS heap (heapUsed + external) by role, as each thread wrote it after the last `gc` command. */
  heaps(): Map<string, number> {
    const roles = this.roles();
    const out = new Map<string, number>();
    for (const f of readdirSync(this.dir)) {
      if (!f.startsWith('heap-')) continue;
      try {
        const h = JSON.parse(readFileSync(path.join(this.dir, f), 'utf8')) as { heapUsed: number; external: number };
        const role = roles.get(Number(f.slice(5, -'.json'.length))) ?? 'other';
        out.set(role, (out.get(role) ?? 0) + h.heapUsed + h.external);
      } catch {
        /* being written */
      }
    }
    return out;
  }

  /** V8's free heap that is in RSS (physical - used, summed over every thread), as written after the last `gc` command. */
  heapSlack(): number {
    let slack = 0;
    for (const f of readdirSync(this.dir)) {
      if (!f.startsWith('heap-')) continue;
      try {
        const h = JSON.parse(readFileSync(path.join(this.dir, f), 'utf8')) as { physical?: number; used?: number };
        if (h.physical !== undefined && h.used !== undefined) slack += Math.max(0, h.physical - h.used);
      } catch {
        /* being written */
      }
    }
    return slack;
  }

  /** The .cpuprofile files the last profile-stop wrote, by role. */
  profiles(): Array<{ tid: number; role: string; file: string }> {
    const roles = this.roles();
    return readdirSync(this.dir)
      .filter((f) => f.startsWith('prof-') && f.endsWith('.cpuprofile'))
      .map((f) => {
        const tid = Number(f.slice(5, -'.cpuprofile'.length));
        return { tid, role: roles.get(tid) ?? 'other', file: path.join(this.dir, f) };
      });
  }

  private alive(pid: number, tid: number): boolean {
    try {
      readFileSync(`/proc/${pid}/task/${tid}/stat`);
      return true;
    } catch {
      return false;
    }
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Seconds the thread spent runnable, waiting for a core (2nd field of /proc/<pid>/task/<tid>/schedstat, ns). */
function runDelaySec(pid: number, tid: string): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[1]) / 1e9 || 0;
  } catch {
    return 0;
  }
}

/** CPU per thread role between two snapshots (threads that started or ended in between count from 0 / are dropped). */
export function threadCpuDelta(a: ThreadCpu, b: ThreadCpu): Array<{ role: string; threads: number; cpuSec: number; waitSec: number }> {
  const by = new Map<string, { threads: number; cpuSec: number; waitSec: number }>();
  for (const [tid, t] of b) {
    const d = t.cpuSec - (a.get(tid)?.cpuSec ?? 0);
    const role = t.role;
    const cur = by.get(role) ?? { threads: 0, cpuSec: 0, waitSec: 0 };
    cur.threads++;
    cur.cpuSec += d;
    cur.waitSec += t.waitSec - (a.get(tid)?.waitSec ?? 0);
    by.set(role, cur);
  }
  const order = (r: string): string => (r === 'main' ? '0' : r.startsWith('shard-') ? `1${r}` : r === 'other' ? '9' : `5${r}`);
  return [...by].map(([role, v]) => ({ role, ...v })).sort((x, y) => order(x.role).localeCompare(order(y.role)));
}
