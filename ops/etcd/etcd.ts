/**
 * A single-member etcd (the Debian `etcd` 3.4 binary) on loopback, for development,
 * tests and the cluster launcher. Not a production deployment: one member, no TLS.
 *
 *   const etcd = await startEtcd({ dataDir, clientPort: 0, peerPort: 0 });
 *   new Etcd3({ hosts: etcd.endpoint });
 *   await etcd.kill(); await etcd.restart();   // crash + come back on the same ports and data
 *   await etcd.stop();                          // SIGTERM, wait, remove nothing
 *
 * CLI (`node --import tsx ops/etcd/etcd.ts [--data-dir D] [--client-port N] [--peer-port N]`)
 * runs one in the foreground and prints its endpoint; Ctrl-C stops it.
 *
 * Port 0 means "pick a free port now": etcd itself would listen on an ephemeral port
 * but advertise `:0`, so the launcher picks the port and keeps it across restarts
 * (a restarted member must come back where clients point).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface EtcdOptions {
  /** Member data dir; created if missing. Default: a fresh temp dir. */
  dataDir?: string;
  /** 0 = a free port (default). */
  clientPort?: number;
  peerPort?: number;
  /** The etcd binary. Default: $ETCD_BIN or `etcd` on PATH. */
  bin?: string;
  /**
   * Raft heartbeat / election timeout (ms). Defaults 50 / 500 instead of etcd's
   * 100 / 1000: on loopback that is ample, and the minimum lease TTL etcd accepts is
   * 1.5 election timeouts, so tests can use 1–2 s leases.
   */
  heartbeatMs?: number;
  electionMs?: number;
  /** Backend quota (bytes). Default 2 GiB, etcd's own default; 8 GiB is the documented max. */
  quotaBytes?: number;
  /** How long to wait for /health. Default 15 s. */
  startTimeoutMs?: number;
}

export interface EtcdHandle {
  /** `http://127.0.0.1:<clientPort>`; pass to `new Etcd3({ hosts })`. */
  readonly endpoint: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  readonly pid: number | undefined;
  /** SIGTERM and wait for exit (SIGKILL after 5 s); removes the data dir if it was a temp one. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit: a crash. Data on disk stays. */
  kill(): Promise<void>;
  /** Start again on the same ports and data dir, wait until healthy. */
  restart(): Promise<void>;
}

export class EtcdStartError extends Error {
  constructor(message: string, readonly logTail: string) {
    super(`${message}\n--- etcd log tail ---\n${logTail}`);
    this.name = 'EtcdStartError';
  }
}

export async function freePort(host = '127.0.0.1', avoid: number[] = []): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen(0, host, () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    if (!avoid.includes(port)) return port;
  }
}

export async function startEtcd(opts: EtcdOptions = {}): Promise<EtcdHandle> {
  const ownsDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'sb-etcd-'));
  mkdirSync(dataDir, { recursive: true });
  const clientPort = opts.clientPort || (await freePort());
  const peerPort = opts.peerPort || (await freePort('127.0.0.1', [clientPort]));
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const logFile = path.join(dataDir, 'etcd.log');
  const args = [
    '--name', 'sb-dev',
    '--data-dir', path.join(dataDir, 'member-data'),
    '--listen-client-urls', endpoint,
    '--advertise-client-urls', endpoint,
    '--listen-peer-urls', peerUrl,
    '--initial-advertise-peer-urls', peerUrl,
    '--initial-cluster', `sb-dev=${peerUrl}`,
    '--initial-cluster-state', 'new',
    '--heartbeat-interval', String(opts.heartbeatMs ?? 50),
    '--election-timeout', String(opts.electionMs ?? 500),
    '--quota-backend-bytes', String(opts.quotaBytes ?? 2 * 1024 ** 3),
    // Keep one hour of history: enough for a watcher that was away to resume.
    '--auto-compaction-mode', 'periodic',
    '--auto-compaction-retention', '1h',
    '--logger', 'zap',
    '--log-outputs', 'stderr',
  ];
  const bin = opts.bin ?? process.env.ETCD_BIN ?? 'etcd';
  let child: ChildProcess | null = null;

  const tail = (): string => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
    } catch {
      return '(no log)';
    }
  };

  const launch = async (): Promise<void> => {
    const fd = openSync(logFile, 'a');
    const c = spawn(bin, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.env.ETCD_UNSUPPORTED_ARCH ?? '' } });
    closeSync(fd);
    child = c;
    let exited = false;
    c.once('exit', () => (exited = true));
    const spawnError = new Promise<never>((_, reject) => c.once('error', (e) => reject(new EtcdStartError(`cannot run ${bin}: ${e.message} (run ops/etcd/ensure-deps.sh)`, ''))));
    const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
    const poll = (async () => {
      while (Date.now() < deadline) {
        if (exited) throw new EtcdStartError(`etcd exited during start (code ${c.exitCode})`, tail());
        if (await healthy(endpoint)) return;
        await sleep(50);
      }
      c.kill('SIGKILL');
      throw new EtcdStartError(`etcd not healthy after ${opts.startTimeoutMs ?? 15_000} ms`, tail());
    })();
    await Promise.race([poll, spawnError]);
  };

  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill(signal);
    const t = setTimeout(() => c.kill('SIGKILL'), 5_000);
    await gone;
    clearTimeout(t);
  };

  await launch();
  return {
    endpoint,
    clientPort,
    peerPort,
    dataDir,
    get pid() {
      return (child as ChildProcess | null)?.pid;
    },
    stop: async () => {
      await terminate('SIGTERM');
      if (ownsDir) rmSync(dataDir, { recursive: true, force: true });
    },
    kill: () => terminate('SIGKILL'),
    restart: async () => {
      await terminate('SIGTERM');
      await launch();
    },
  };
}

/** etcd's /health answers {"health":"true"} once it has a leader and serves. */
export async function healthy(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1_000) });
    const body = (await res.json()) as { health?: string };
    return res.ok && body.health === 'true';
  } catch {
    return false;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const { parseArgs } = await import('node:util');
  const { values } = parseArgs({
    options: { 'data-dir': { type: 'string' }, 'client-port': { type: 'string' }, 'peer-port': { type: 'string' } },
  });
  const etcd = await startEtcd({
    dataDir: values['data-dir'],
    clientPort: Number(values['client-port'] ?? 0),
    peerPort: Number(values['peer-port'] ?? 0),
  });
  console.log(`etcd ready: ${etcd.endpoint} (pid ${etcd.pid}, data ${etcd.dataDir})`);
  const quit = (): void => void etcd.stop().then(() => process.exit(0));
  process.on('SIGINT', quit);
  process.on('SIGTERM', quit);
}
