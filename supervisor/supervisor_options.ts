/**
 * Supervisor options: validated like child specs, before anything starts, with errors
 * naming the bad option (`SupervisorOptionsError.field`).
 */
import type { ChildSpec, ChildSpecInput } from './child_spec.js';
import { validateChildSpecs } from './child_spec.js';
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import { SupervisorOptionsError } from './errors.js';
import type { SupervisorReport } from './reports.js';
import { stderrLine } from './reports.js';
import { DEFAULT_RESTART_LIMITS } from './restart_window.js';
import { STRATEGIES, type Strategy } from './strategy.js';

export interface SupervisorOptions {
  /** Names the supervisor in reports and status; nested ones get `parent/childId`. */
  readonly name: string;
  /** Default `one_for_one`. */
  readonly strategy?: Strategy;
  /** Most restarts in `periodMs` before giving up. Default 3. */
  readonly intensity?: number;
  /** Restart window length in ms. Default 5000. */
  readonly periodMs?: number;
  /** Started in this order, stopped in reverse. Default none (children added at runtime). */
  readonly children?: readonly ChildSpecInput[];
  /** Default the system clock. Nested supervisors inherit their parent's. */
  readonly clock?: Clock;
  /** Where a top-level supervisor writes one JSON line per report. Default stderr. */
  readonly log?: (line: string) => void;
  /** Also log progress reports (starts, clean exits). Default false. */
  readonly logProgress?: boolean;
  /**
   * Set by `supervisorChild` for nested supervisors: reports go to the parent (which
   * logs them at the top) instead of being logged here.
   */
  readonly parentReport?: (report: SupervisorReport) => void;
}

export interface ResolvedSupervisorOptions {
  readonly name: string;
  readonly strategy: Strategy;
  readonly intensity: number;
  readonly periodMs: number;
  readonly children: ChildSpec[];
  readonly clock: Clock;
  readonly log: (line: string) => void;
  readonly logProgress: boolean;
  readonly parentReport: ((report: SupervisorReport) => void) | undefined;
}

export function validateSupervisorOptions(options: SupervisorOptions): ResolvedSupervisorOptions {
  if (typeof options !== 'object' || options === null) {
    throw new SupervisorOptionsError('options', 'must be an object');
  }
  const { name } = options;
  if (typeof name !== 'string' || name.length === 0) {
    throw new SupervisorOptionsError('name', `must be a non-empty string, got ${String(name)}`);
  }
  const strategy = options.strategy ?? 'one_for_one';
  if (!STRATEGIES.includes(strategy)) {
    throw new SupervisorOptionsError('strategy', `must be one of ${STRATEGIES.join(', ')}; got ${String(strategy)}`);
  }
  const intensity = options.intensity ?? DEFAULT_RESTART_LIMITS.intensity;
  if (!Number.isSafeInteger(intensity) || intensity < 0) {
    throw new SupervisorOptionsError('intensity', `must be a non-negative integer, got ${String(intensity)}`);
  }
  const periodMs = options.periodMs ?? DEFAULT_RESTART_LIMITS.periodMs;
  if (!Number.isSafeInteger(periodMs) || periodMs <= 0) {
    throw new SupervisorOptionsError('periodMs', `must be a positive integer (ms), got ${String(periodMs)}`);
  }
  const log = options.log ?? stderrLine;
  if (typeof log !== 'function') throw new SupervisorOptionsError('log', 'must be a function');
  return {
    name,
    strategy,
    intensity,
    periodMs,
    children: validateChildSpecs(options.children ?? []),
    clock: options.clock ?? systemClock,
    log,
    logProgress: options.logProgress ?? false,
    parentReport: options.parentReport,
  };
}
