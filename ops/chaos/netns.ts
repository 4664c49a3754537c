/**
 * A private network namespace for a chaos run that needs iptables (partition): the
 * runner re-executes itself under `ip netns exec sbchaos-<pid>`, so etcd, the nodes,
 * Cassandra and the clients all live on the namespace's own loopback and the rules
 * can break nothing outside it. The namespace is deleted when the run ends, however
 * it ends (leftover processes in it are SIGKILLed by pid first). Namespaces of
 * earlier runs whose creator is gone are removed on the next start.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const NETNS_ENV = 'SB_CHAOS_NETNS';
const PREFIX = 'sbchaos-';

export function insideNetns(): string | null {
  return process.env[NETNS_ENV] || null;
}

async function pidsIn(name: string): Promise<number[]> {
  const { stdout } = await run('ip', ['netns', 'pids', name]).catch(() => ({ stdout: '' }));
  return stdout.split(/\s+/).filter(Boolean).map(Number);
}

async function remove(name: string): Promise<void> {
  for (const pid of await pidsIn(name)) {
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  await run('ip', ['netns', 'del', name]).catch(() => undefined);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Remove sbchaos-<pid> namespaces whose creating process is gone. */
export async function removeStale(log: (s: string) => void): Promise<void> {
  const { stdout } = await run('ip', ['netns', 'list']).catch(() => ({ stdout: '' }));
  for (const line of stdout.split('\n')) {
    const name = line.split(' ')[0];
    const m = new RegExp(`^${PREFIX}(\\d+)$`).exec(name);
    if (m && !alive(Number(m[1]))) {
      log(`removing stale network namespace ${name}`);
      await remove(name);
    }
  }
}

/**
 * Run this same command (node + script + args) inside a fresh namespace; resolves with
 * its exit code after the namespace is gone.
 */
export async function rerunInNetns(args: string[], log: (s: string) => void): Promise<number> {
  await removeStale(log);
  const name = `${PREFIX}${process.pid}`;
  await run('ip', ['netns', 'add', name]);
  try {
    await run('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
    log(`running inside network namespace ${name} (deleted at the end)`);
    const child = spawn('ip', ['netns', 'exec', name, process.execPath, ...process.execArgv, process.argv[1], ...args], {
      stdio: 'inherit',
      env: { ...process.env, [NETNS_ENV]: name },
    });
    const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
    const onInt = forward('SIGINT');
    const onTerm = forward('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    const code = await new Promise<number>((resolve) => child.on('exit', (c, s) => resolve(c ?? (s ? 130 : 1))));
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    return code;
  } finally {
    await remove(name);
    log(`network namespace ${name} deleted`);
  }
}
