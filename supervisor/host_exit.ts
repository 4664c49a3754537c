/**
 * Connects a top-level supervisor to the host process. When the supervisor gives up
 * (restart intensity exceeded, a child failed to start, or a hung thread escalated to
 * the top), write one JSON line with the reason and the whole tree, then exit non-zero
 * so the OS-level restarter (systemd, k8s) starts a fresh host.
 *
 * After a hung uWS thread, the exit itself may turn into SIGABRT (Node tears the thread
 * down while it still holds sockets). Either way the status is non-zero and the crash
 * line was written first.
 */
import type { ExitReason } from './exit_reason.js';
import { reasonInfo, stderrLine } from './reports.js';
import type { SupervisorTree } from './tree.js';

/** Exit codes, distinct so an operator can tell a crash loop from a hang. */
export const HOST_EXIT_CODES = {
  /** The tree gave up (intensity) or could not start. */
  failed: 1,
  /** A thread hung and cannot be reclaimed in-process. */
  hung: 2,
} as const;

/** What a top-level supervisor needs to provide; `Supervisor` fits. */
export interface TopLevel {
  readonly name: string;
  readonly exited: Promise<ExitReason>;
  tree(): SupervisorTree;
}

export interface HostExitOptions {
  /** Default `process.exit`. */
  readonly exit?: (code: number) => void;
  /** Default one line on stderr. */
  readonly log?: (line: string) => void;
}

/**
 * Watch `top.exited`; on failure log and exit with the matching code. Resolves with the
 * exit code used, or `undefined` after a clean stop (the host decides what to do then).
 */
export async function exitHostOnGiveUp(top: TopLevel, options: HostExitOptions = {}): Promise<number | undefined> {
  const reason = await top.exited;
  if (reason.kind === 'normal' || reason.kind === 'shutdown') return undefined;
  const code = reason.kind === 'hung' ? HOST_EXIT_CODES.hung : HOST_EXIT_CODES.failed;
  const line = JSON.stringify({
    log: 'supervisor',
    kind: 'host_exit',
    supervisor: top.name,
    exitCode: code,
    reason: reasonInfo(reason),
    tree: top.tree(),
  });
  (options.log ?? stderrLine)(line);
  (options.exit ?? ((c: number) => process.exit(c)))(code);
  return code;
}
