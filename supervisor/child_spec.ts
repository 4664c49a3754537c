/**
 * Child specs: plain data describing one supervised child, validated with defaults
 * filled in before anything starts (as OTP's `supervisor:check_childspecs`). A bad spec
 * throws `ChildSpecError` naming the field, so a typo in the host's child list fails at
 * boot, not at the first crash.
 */
import type { StartFn } from './child_handle.js';
import { ChildSpecError } from './errors.js';
import type { ChildType, RestartType, Shutdown } from './types.js';

export const RESTART_TYPES: readonly RestartType[] = ['permanent', 'transient', 'temporary'];
export const CHILD_TYPES: readonly ChildType[] = ['worker', 'supervisor'];

/** What a host writes; everything but `id` and `start` has a default. */
export interface ChildSpecInput {
  readonly id: string;
  readonly start: StartFn;
  readonly restart?: RestartType;
  readonly shutdown?: Shutdown;
  readonly type?: ChildType;
}

/** A validated spec with every field present. */
export interface ChildSpec {
  readonly id: string;
  readonly start: StartFn;
  readonly restart: RestartType;
  readonly shutdown: Shutdown;
  readonly type: ChildType;
}

/** OTP's default: long enough for a clean drain, short enough that a deploy does not stall. */
export const DEFAULT_WORKER_SHUTDOWN_MS = 5_000;

const KNOWN_FIELDS = new Set(['id', 'start', 'restart', 'shutdown', 'type']);

/** Validate one spec. Throws `ChildSpecError` with `field` set to the first bad field. */
export function validateChildSpec(input: unknown): ChildSpec {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ChildSpecError('spec', `must be an object, got ${describe(input)}`);
  }
  const raw = input as Record<string, unknown>;

  const id = raw.id;
  if (typeof id !== 'string' || id.length === 0) {
    throw new ChildSpecError('id', `must be a non-empty string, got ${describe(id)}`);
  }
  // `/` separates supervisor path segments in reports and status output.
  if (id.includes('/')) throw new ChildSpecError('id', `must not contain '/'`, id);

  for (const key of Object.keys(raw)) {
    // Unknown keys are almost always typos (`restrat: 'temporary'`) that would otherwise
    // silently fall back to a default.
    if (!KNOWN_FIELDS.has(key)) throw new ChildSpecError(key, 'is not a child spec field', id);
  }

  if (typeof raw.start !== 'function') {
    throw new ChildSpecError('start', `must be a function returning a ChildHandle, got ${describe(raw.start)}`, id);
  }

  const type = raw.type ?? 'worker';
  if (!CHILD_TYPES.includes(type as ChildType)) {
    throw new ChildSpecError('type', `must be one of ${CHILD_TYPES.join(', ')}; got ${describe(type)}`, id);
  }

  const restart = raw.restart ?? 'permanent';
  if (!RESTART_TYPES.includes(restart as RestartType)) {
    throw new ChildSpecError('restart', `must be one of ${RESTART_TYPES.join(', ')}; got ${describe(restart)}`, id);
  }

  const shutdown = raw.shutdown ?? (type === 'supervisor' ? 'infinity' : DEFAULT_WORKER_SHUTDOWN_MS);
  if (!isShutdown(shutdown)) {
    throw new ChildSpecError(
      'shutdown',
      `must be a non-negative integer (ms), 'brutal_kill' or 'infinity'; got ${describe(shutdown)}`,
      id,
    );
  }

  return {
    id,
    start: raw.start as StartFn,
    restart: restart as RestartType,
    shutdown,
    type: type as ChildType,
  };
}

/** Validate a child list: each spec, then that ids are unique (ids address children). */
export function validateChildSpecs(inputs: unknown): ChildSpec[] {
  if (!Array.isArray(inputs)) throw new ChildSpecError('children', `must be an array, got ${describe(inputs)}`);
  const specs = inputs.map((input) => validateChildSpec(input));
  const seen = new Set<string>();
  for (const spec of specs) {
    if (seen.has(spec.id)) throw new ChildSpecError('id', 'is used by more than one child', spec.id);
    seen.add(spec.id);
  }
  return specs;
}

function isShutdown(value: unknown): value is Shutdown {
  if (value === 'brutal_kill' || value === 'infinity') return true;
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}
