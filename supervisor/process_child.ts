/**
 * Adapter for child processes (node:child_process). Stop is SIGTERM; the forced kill
 * after the shutdown timeout is SIGKILL. An exit we did not ask for is `normal` only
 * with code 0; any other code, or any signal, is a crash. After we asked, code 0 or our
 * own SIGTERM/SIGKILL is a clean shutdown, and anything else is reported as an error.
 *
 * Children are not killed if the host itself dies abruptly; run them under the same
 * OS-level unit (systemd KillMode=control-group) so a host restart takes them along.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import type { ChildHandle, ChildIdentity, StartFn } from './child_handle.js';
import { ProcessExitError } from './errors.js';
import { crashed, NORMAL, SHUTDOWN, type ExitReason } from './exit_reason.js';

export interface ProcessChildOptions {
  readonly command: string;
  readonly args?: readonly string[];
  /** cwd, env, stdio... Default stdio is `inherit`, so child logs land in the host's. */
  readonly spawnOptions?: SpawnOptions;
  /** Called with each new ChildProcess (on every restart). */
  readonly onSpawn?: (child: ChildProcess) => void;
}

/** A start function that spawns `command` afresh on every (re)start. */
export function processChild(options: ProcessChildOptions): StartFn {
  return async () => {
    const child = spawn(options.command, [...(options.args ?? [])], { stdio: 'inherit', ...options.spawnOptions });
    const handle = new ProcessHandle(child);
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    options.onSpawn?.(child);
    return handle;
  };
}

/** Run a Node entry (TypeScript through tsx, or JavaScript) as a child process. */
export function nodeProcessChild(entry: string, args: readonly string[] = [], options: Omit<ProcessChildOptions, 'command' | 'args'> = {}): StartFn {
  const loader = /\.m?ts$/.test(entry) ? ['--import', 'tsx'] : [];
  return processChild({ ...options, command: process.execPath, args: [...loader, entry, ...args] });
}

class ProcessHandle implements ChildHandle {
  readonly exited: Promise<ExitReason>;
  private stopRequested = false;
  private done = false;

  constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.done = true;
        resolve(this.reasonFor(code, signal));
      });
      // A spawn failure never emits 'exit'; the start function rejects on it. Later
      // errors (a failed kill) must still have a listener, or they would throw.
      child.on('error', (error) => {
        if (child.pid === undefined) {
          this.done = true;
          resolve(crashed(error));
        }
      });
    });
  }

  requestStop(_deadlineMs: number): void {
    this.signal('SIGTERM');
  }

  kill(): void {
    this.signal('SIGKILL');
  }

  identity(): ChildIdentity {
    return this.child.pid === undefined ? {} : { pid: this.child.pid };
  }

  private signal(signal: NodeJS.Signals): void {
    this.stopRequested = true;
    if (!this.done) this.child.kill(signal);
  }

  private reasonFor(code: number | null, signal: NodeJS.Signals | null): ExitReason {
    if (this.stopRequested && (code === 0 || signal === 'SIGTERM' || signal === 'SIGKILL')) return SHUTDOWN;
    if (!this.stopRequested && code === 0) return NORMAL;
    return crashed(new ProcessExitError(code, signal, this.child.pid));
  }
}
