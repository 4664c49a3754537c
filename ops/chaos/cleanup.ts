/**
 * Last-resort cleanup: every process this run started (node processes, etcd, haproxy,
 * Cassandra, and anything they started) is a descendant of this process. On exit
 * (including after an uncaught error or a second Ctrl-C) they are found through /proc
 * and SIGKILLed by pid, deepest first; stopped ones are SIGCONTed first.
 */
import { readdirSync, readFileSync } from 'node:fs';

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ppid ...; comm may hold spaces and parentheses.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[1]);
  } catch {
    return null;
  }
}

/** Every descendant of `root`, children before grandchildren. */
export function descendants(root = process.pid): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const ppid = parentOf(pid);
    if (ppid === null) continue;
    const list = children.get(ppid);
    if (list) list.push(pid);
    else children.set(ppid, [pid]);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length) {
    const p = queue.shift()!;
    for (const c of children.get(p) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

export function killDescendantsSync(): number {
  const pids = descendants().reverse();
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  return pids.length;
}

let installed = false;

/** SIGKILL whatever is left of this run's processes when this process exits. */
export function installExitCleanup(): void {
  if (installed) return;
  installed = true;
  process.on('exit', () => {
    killDescendantsSync();
  });
}
