/**
 * Start and stop one local Cassandra JVM.
 *
 * The programmatic API (startCassandra) is what test runners use: start once per
 * run, point clients at handle.port, and for crash tests kill() the node and call
 * startCassandra again with the same dataDir (ports and data are reused; the commit
 * log is replayed on the way up). The CLI uses the same code with detached: true and
 * finds the node again later through <dataDir>/cassandra.pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CONFIG_DEFAULTS, renderCassandraYaml, renderLogbackXml, type CommitlogSync, type PaxosVariant } from './config.js';
import { requireJars } from './fetch.js';
import { resolveJava } from './java.js';
import { jvmArgs, MAIN_CLASS, type JitMode } from './jvm_args.js';
import { LIB_DIR, nodeLayout, type NodeLayout } from './layout.js';
import { assertPortsFree, readSavedPorts, resolvePorts, savePorts } from './ports.js';
import { waitForCql, type CqlReady } from './wait_for_cql.js';

export interface StartOptions {
  /** Node directory; created if missing. Default: a fresh temp dir (removed by nobody: tests own it). */
  readonly dataDir?: string;
  /** CQL port; 0 = any free port. Default: the port saved in dataDir, else 9042. */
  readonly port?: number;
  /** Inter-node port; default: saved, else 7000 next to 9042, else any free port. */
  readonly storagePort?: number;
  readonly heap?: string;
  /** Default 'quick' (fast startup, C1 only); 'full' for benchmarks. See jvm_args.ts. */
  readonly jit?: JitMode;
  readonly commitlogSync?: CommitlogSync;
  /** Default CONFIG_DEFAULTS.paxosVariant (config.ts says why). */
  readonly paxosVariant?: PaxosVariant;
  readonly jmxPort?: number;
  /** Path of a Java 17 binary; default: see java.ts. */
  readonly java?: string;
  /** Wait until CQL answers before resolving (default true). */
  readonly wait?: boolean;
  readonly waitTimeoutMs?: number;
  /**
   * Own session and process group, survives this process (the CLI's `start`).
   * Default false: the node is killed when this process exits, so a crashed test
   * run leaves no JVM behind.
   */
  readonly detached?: boolean;
  readonly log?: (line: string) => void;
  readonly extraJvmArgs?: readonly string[];
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface CassandraHandle {
  readonly pid: number;
  readonly host: string;
  /** CQL port. */
  readonly port: number;
  readonly storagePort: number;
  readonly dataDir: string;
  readonly layout: NodeLayout;
  /** Set when started with wait (the default). */
  readonly ready: CqlReady | null;
  /** Resolves when the JVM has exited, however that happened. */
  readonly exited: Promise<ExitInfo>;
  isAlive(): boolean;
  /** SIGTERM (Cassandra drains: flushes memtables, closes the commit log), SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<ExitInfo>;
  /** SIGKILL: a crash. Only what reached the commit log survives (see config.ts on commitlog_sync). */
  kill(): Promise<ExitInfo>;
}

export const DEFAULT_HEAP = '1G';
const DEFAULT_STOP_GRACE_MS = 30_000;

export async function startCassandra(opts: StartOptions = {}): Promise<CassandraHandle> {
  const log = opts.log ?? (() => undefined);
  const host = CONFIG_DEFAULTS.host;
  const jars = requireJars();
  const java = opts.java ?? resolveJava();
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'switchboard-cassandra-'));
  const layout = nodeLayout(dataDir);
  for (const d of [layout.dataDir, layout.confDir, layout.logDir]) mkdirSync(d, { recursive: true });

  const running = runningPid(layout);
  if (running !== null) throw new Error(`Cassandra is already running on ${layout.dataDir} (pid ${running})`);

  const ports = await resolvePorts(host, { cqlPort: opts.port, storagePort: opts.storagePort }, readSavedPorts(layout.stateFile));
  await assertPortsFree(host, ports);
  savePorts(layout.stateFile, ports);

  writeFileSync(
    layout.yamlFile,
    renderCassandraYaml({
      clusterName: CONFIG_DEFAULTS.clusterName,
      host,
      cqlPort: ports.cqlPort,
      storagePort: ports.storagePort,
      dataDir: layout.dataDir,
      logDir: layout.logDir,
      commitlogSync: opts.commitlogSync ?? CONFIG_DEFAULTS.commitlogSync,
      commitlogGroupWindowMs: CONFIG_DEFAULTS.commitlogGroupWindowMs,
      paxosVariant: opts.paxosVariant ?? CONFIG_DEFAULTS.paxosVariant,
    }),
  );
  writeFileSync(layout.logbackFile, renderLogbackXml(layout));

  const args = jvmArgs({
    layout,
    libDir: LIB_DIR,
    jars,
    heap: opts.heap ?? DEFAULT_HEAP,
    jit: opts.jit ?? 'quick',
    jmxPort: opts.jmxPort,
    extraArgs: opts.extraJvmArgs,
  });
  const out = openSync(layout.stdoutLog, 'a');
  writeFileSync(out, `\n==== ${new Date().toISOString()} starting Cassandra (CQL ${ports.cqlPort}, storage ${ports.storagePort})\n`);
  let child: ChildProcess;
  try {
    child = spawn(java, args, {
      cwd: layout.dataDir,
      detached: opts.detached ?? false,
      stdio: ['ignore', out, out],
    });
  } finally {
    closeSync(out);
  }
  const pid = await spawned(child);
  writeFileSync(layout.pidFile, `${pid}\n`);
  log(`started Cassandra pid ${pid}: CQL ${host}:${ports.cqlPort}, data ${layout.dataDir}`);

  let exitInfo: ExitInfo | null = null;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      // Only our own pid file: a restart may already have written a newer one.
      if (existsSync(layout.pidFile) && readFileSync(layout.pidFile, 'utf8').trim() === String(pid)) {
        rmSync(layout.pidFile, { force: true });
      }
      resolve(exitInfo);
    });
  });
  const killOnExit = () => {
    if (exitInfo !== null) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone between the exit event and now.
    }
  };
  if (opts.detached) {
    child.unref();
  } else {
    process.once('exit', killOnExit);
    void exited.then(() => process.removeListener('exit', killOnExit));
  }

  const isAlive = () => exitInfo === null;
  const signalAndWait = async (signal: NodeJS.Signals, graceMs: number): Promise<ExitInfo> => {
    if (exitInfo) return exitInfo;
    child.kill(signal);
    const timer = setTimeout(() => {
      log(`Cassandra pid ${pid} still up ${graceMs} ms after ${signal}; sending SIGKILL`);
      child.kill('SIGKILL');
    }, graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };

  const handle: CassandraHandle = {
    pid,
    host,
    port: ports.cqlPort,
    storagePort: ports.storagePort,
    dataDir: layout.dataDir,
    layout,
    ready: null,
    exited,
    isAlive,
    stop: (graceMs = DEFAULT_STOP_GRACE_MS) => signalAndWait('SIGTERM', graceMs),
    kill: () => signalAndWait('SIGKILL', 10_000),
  };
  if (opts.wait === false) return handle;
  try {
    const ready = await waitForCql({
      host,
      port: ports.cqlPort,
      timeoutMs: opts.waitTimeoutMs,
      onProgress: log,
      isAlive,
      logFiles: [layout.stdoutLog, layout.systemLog],
    });
    log(`Cassandra ${ready.releaseVersion} accepts CQL on ${host}:${ports.cqlPort} after ${(ready.waitedMs / 1000).toFixed(1)} s`);
    return { ...handle, ready };
  } catch (err) {
    await handle.kill();
    throw err;
  }
}

/** The pid in the pid file if that process is alive and really is this node's JVM. */
export function runningPid(layout: NodeLayout): number | null {
  if (!existsSync(layout.pidFile)) return null;
  const pid = Number(readFileSync(layout.pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0 || !isOurJvm(pid, layout)) {
    // Stale: the JVM died without cleanup (SIGKILL, host reboot) or the pid was reused.
    rmSync(layout.pidFile, { force: true });
    return null;
  }
  return pid;
}

/**
 * Stop the node recorded in dataDir's pid file (for the CLI, which did not spawn it).
 * Returns false when nothing was running.
 */
export async function stopByPidFile(
  dataDir: string,
  opts: { graceMs?: number; log?: (line: string) => void } = {},
): Promise<boolean> {
  const layout = nodeLayout(dataDir);
  const log = opts.log ?? (() => undefined);
  const pid = runningPid(layout);
  if (pid === null) return false;
  const graceMs = opts.graceMs ?? DEFAULT_STOP_GRACE_MS;
  log(`stopping Cassandra pid ${pid} (SIGTERM, SIGKILL after ${graceMs / 1000} s)`);
  process.kill(pid, 'SIGTERM');
  if (!(await waitForPidExit(pid, graceMs))) {
    log(`pid ${pid} still up; SIGKILL`);
    process.kill(pid, 'SIGKILL');
    await waitForPidExit(pid, 10_000);
  }
  rmSync(layout.pidFile, { force: true });
  return true;
}

function isOurJvm(pid: number, layout: NodeLayout): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(MAIN_CLASS) && cmdline.includes(`-Dcassandra.storagedir=${layout.dataDir}\0`);
  } catch {
    return false;
  }
}

async function waitForPidExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!pidAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !pidAlive(pid);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers signal 0; it is dead for our purposes.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

function spawned(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    child.once('error', (err) => reject(new Error('could not start java (is OpenJDK 17 installed?)', { cause: err })));
    child.once('spawn', () => resolve(child.pid as number));
  });
}
