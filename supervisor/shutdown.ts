/**
 * Stopping one child: ask, wait up to its shutdown timeout, then kill. The same
 * procedure serves supervisor shutdown, restarts of siblings, and `terminateChild`.
 */
import type { ChildHandle } from './child_handle.js';
import type { Shutdown } from './types.js';
import type { Clock } from './clock.js';
import type { ExitReason } from './exit_reason.js';

export interface ShutdownOutcome {
  /**
   * `stopped`: the child ended by itself before the timeout (or had already ended).
   * `killed`: it was force-killed, because the timeout passed or the spec says `brutal_kill`.
   */
  readonly how: 'stopped' | 'killed';
  /** What the child's `exited` settled with. */
  readonly reason: ExitReason;
}

export async function shutdownChild(handle: ChildHandle, shutdown: Shutdown, clock: Clock): Promise<ShutdownOutcome> {
  if (shutdown === 'brutal_kill') return { how: 'killed', reason: await killAndWait(handle) };

  const deadlineMs = shutdown === 'infinity' ? Infinity : shutdown;
  try {
    handle.requestStop(deadlineMs);
  } catch {
    // A child that cannot even be asked is killed; its exit reason says what it could.
    return { how: 'killed', reason: await killAndWait(handle) };
  }
  if (shutdown === 'infinity') return { how: 'stopped', reason: await handle.exited };

  let timer: unknown;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = clock.setTimeout(() => resolve('timeout'), deadlineMs);
  });
  const first = await Promise.race([handle.exited, timedOut]);
  clock.clearTimeout(timer);
  if (first !== 'timeout') return { how: 'stopped', reason: first };
  return { how: 'killed', reason: await killAndWait(handle) };
}

async function killAndWait(handle: ChildHandle): Promise<ExitReason> {
  try {
    handle.kill();
  } catch {
    // The handle contract says `exited` settles after kill; a throwing kill changes nothing.
  }
  return handle.exited;
}
