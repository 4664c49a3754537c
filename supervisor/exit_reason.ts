/**
 * Why a child ended, and the pure rule that turns (restart type, reason) into what the
 * supervisor does next. This is the OTP table, plus `hung`.
 */
import type { RestartType } from './types.js';

export type ExitReason =
  /** The child finished on its own, successfully (exit code 0, service said "done"). */
  | { readonly kind: 'normal' }
  /** The child ended because someone asked it to (its supervisor, or its own clean stop). */
  | { readonly kind: 'shutdown' }
  /** The child crashed: uncaught error, non-zero exit, killed by a signal we did not send. */
  | { readonly kind: 'error'; readonly error: Error }
  /**
   * The child is stuck and cannot be reclaimed in this process (e.g. a worker thread that
   * still holds uWS sockets and no longer answers: terminating it would abort the whole
   * process). It is never restarted: the supervisor escalates at once, and every
   * supervisor above does the same, so the host exits and the OS restarts it.
   */
  | { readonly kind: 'hung'; readonly error: Error };

export const NORMAL: ExitReason = { kind: 'normal' };
export const SHUTDOWN: ExitReason = { kind: 'shutdown' };

export function crashed(error: Error): ExitReason {
  return { kind: 'error', error };
}

/** Abnormal reasons are the ones a crash report is written for. */
export function isAbnormal(reason: ExitReason): boolean {
  return reason.kind === 'error' || reason.kind === 'hung';
}

/**
 * What the supervisor does after a child exits on its own:
 * - `restart`: start it again (subject to the restart window and the strategy);
 * - `keep`: leave it stopped in the child list (a transient child that ended cleanly);
 * - `delete`: drop it from the child list (temporary children, as in OTP);
 * - `escalate`: give up at once (the child is hung).
 */
export type ExitAction = 'restart' | 'keep' | 'delete' | 'escalate';

export function actionAfterExit(restart: RestartType, reason: ExitReason): ExitAction {
  // A hung child escalates whatever its restart type: it cannot be killed without
  // risking the process, so leaving it is not safe either.
  if (reason.kind === 'hung') return 'escalate';
  switch (restart) {
    case 'permanent':
      return 'restart';
    case 'transient':
      return reason.kind === 'error' ? 'restart' : 'keep';
    case 'temporary':
      return 'delete';
  }
}

/** One short line for status output: `normal`, `shutdown`, `error: boom`, `hung: ...`. */
export function summarizeReason(reason: ExitReason): string {
  switch (reason.kind) {
    case 'normal':
    case 'shutdown':
      return reason.kind;
    case 'error':
    case 'hung':
      return `${reason.kind}: ${reason.error.message}`;
  }
}
