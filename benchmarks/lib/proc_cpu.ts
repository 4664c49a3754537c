/**
 * CPU time of another process (utime + stime from Linux /proc/<pid>/stat), for
 * benchmarks that charge work to a server process such as Cassandra's JVM.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc times (`getconf CLK_TCK`; 100 on Linux). */
const CLOCK_TICKS = 100;

/** µs of CPU the process has used so far, or null when unknown (no pid, not Linux, gone). */
export function processCpuUs(pid: number): number | null {
  if (!pid) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm) ": state is the first, utime the 12th and stime the 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/** µs of CPU the process's main thread (tid = pid) has used so far, or null when unknown. */
export function mainThreadCpuUs(pid: number): number | null {
  if (!pid) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
  } catch {
    return null;
  }
}
