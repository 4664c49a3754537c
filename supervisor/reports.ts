/**
 * Structured supervisor reports (OTP's crash, progress and supervisor reports).
 *
 * Every report names the supervisor (as a path, `host/shards`), the child, the reason
 * and the restart count. They are emitted to `onReport` listeners on the supervisor
 * that made them and on every supervisor above it; the top-level supervisor writes each
 * as one JSON line (see `formatReportLine`), so logs grep and parse the same way.
 */
import { summarizeReason, type ExitReason } from './exit_reason.js';
import type { ExitAction } from './exit_reason.js';

/** A JSON-safe view of an error, with its cause chain and extra fields (code, exitCode, signal...). */
export interface ErrorInfo {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly details?: Record<string, unknown>;
  readonly stack?: string;
  readonly cause?: ErrorInfo | string;
}

export interface ReasonInfo {
  readonly kind: ExitReason['kind'];
  readonly summary: string;
  readonly error?: ErrorInfo;
}

interface Base {
  /** Clock time (`Clock.now()`) when the report was made. */
  readonly at: number;
  /** Path of the supervisor that made the report. */
  readonly supervisor: string;
}

export type SupervisorReport =
  /** A child started (a progress report: logged only when `logProgress` is on). */
  | (Base & { readonly kind: 'child_started'; readonly child: string; readonly restarts: number; readonly pid?: number; readonly threadId?: number })
  /** A child ended without being asked. `action` says what the supervisor does about it. */
  | (Base & {
      readonly kind: 'child_exited';
      readonly child: string;
      readonly reason: ReasonInfo;
      readonly restarts: number;
      readonly action: ExitAction;
    })
  /** A start (initial, restart or dynamic) threw. */
  | (Base & { readonly kind: 'start_failed'; readonly child: string; readonly restarts: number; readonly error: ErrorInfo })
  /** A child asked to stop did not do so cleanly: it was force-killed, or ended with an error. */
  | (Base & {
      readonly kind: 'shutdown_error';
      readonly child: string;
      readonly how: 'stopped' | 'killed';
      readonly reason: ReasonInfo;
      readonly restarts: number;
    })
  /** The supervisor stopped its children and failed upward. */
  | (Base & {
      readonly kind: 'gave_up';
      readonly child: string;
      readonly why: 'intensity' | 'hung';
      readonly reason: ReasonInfo;
      /** Restarts inside the window when it gave up (including the refused one). */
      readonly restarts: number;
      readonly intensity: number;
      readonly periodMs: number;
    });

export type ReportKind = SupervisorReport['kind'];

/**
 * Progress reports are routine: starts, and clean exits that need no restart (a
 * per-peer link closing). Everything else is worth a line in the log.
 */
export function isProgress(report: SupervisorReport): boolean {
  if (report.kind === 'child_started') return true;
  return report.kind === 'child_exited' && (report.reason.kind === 'normal' || report.reason.kind === 'shutdown') && report.action !== 'restart';
}

export function reasonInfo(reason: ExitReason): ReasonInfo {
  if (reason.kind === 'normal' || reason.kind === 'shutdown') return { kind: reason.kind, summary: reason.kind };
  return { kind: reason.kind, summary: summarizeReason(reason), error: errorInfo(reason.error) };
}

/** How deep a cause chain is followed; a cycle or a deep wrap must not blow up a log line. */
const MAX_CAUSE_DEPTH = 5;
const PLAIN_ERROR_KEYS = new Set(['name', 'message', 'stack', 'cause', 'code']);

export function errorInfo(error: unknown, depth = 0): ErrorInfo {
  if (!(error instanceof Error)) return { name: 'NonError', message: String(error) };
  const details: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) {
    if (PLAIN_ERROR_KEYS.has(key)) continue;
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) details[key] = value;
  }
  const code = (error as { code?: unknown }).code;
  const info: {
    name: string;
    message: string;
    code?: string;
    details?: Record<string, unknown>;
    stack?: string;
    cause?: ErrorInfo | string;
  } = { name: error.name, message: error.message };
  if (typeof code === 'string') info.code = code;
  if (Object.keys(details).length > 0) info.details = details;
  if (error.stack !== undefined) info.stack = error.stack;
  if (error.cause !== undefined) {
    info.cause = depth >= MAX_CAUSE_DEPTH ? String(error.cause) : errorInfo(error.cause, depth + 1);
  }
  return info;
}

/** One JSON line, tagged so a log shipper can pick supervisor reports out. */
export function formatReportLine(report: SupervisorReport): string {
  return JSON.stringify({ log: 'supervisor', ...report });
}

/** Default sink for top-level supervisors: one JSON line per report on stderr. */
export function stderrLine(line: string): void {
  process.stderr.write(line + '\n');
}
