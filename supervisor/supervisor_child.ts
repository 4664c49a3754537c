/**
 * Nested supervisors: a child of type `supervisor` is itself a `Supervisor`. Its reports
 * flow to the parent (and are logged once, at the top); its `exited` is the child's
 * exit, so when it gives up the parent sees a crash and applies its own strategy and
 * window: that is how failure climbs the tree.
 */
import type { StartFn } from './child_handle.js';
import type { ChildSpecInput } from './child_spec.js';
import type { RestartType, Shutdown } from './types.js';
import { Supervisor } from './supervisor.js';
import { validateSupervisorOptions, type SupervisorOptions } from './supervisor_options.js';

/** Options of a nested supervisor; name, clock and logging come from the parent. */
export type NestedSupervisorOptions = Omit<SupervisorOptions, 'name' | 'clock' | 'log' | 'logProgress' | 'parentReport'>;

/**
 * A start function that runs a nested supervisor. The options (and every child spec in
 * them) are validated now, so a bad nested spec fails when the tree is built.
 */
export function supervisorChild(options: NestedSupervisorOptions): StartFn {
  validateSupervisorOptions({ ...options, name: 'nested' });
  return async (ctx) => {
    const sup = new Supervisor({
      ...options,
      name: `${ctx.supervisor}/${ctx.childId}`,
      clock: ctx.clock,
      parentReport: ctx.report,
    });
    await sup.start();
    return {
      exited: sup.exited,
      // The deadline is the parent's business: the nested supervisor bounds each of its
      // own children with their shutdown timeouts.
      requestStop: () => void sup.stop(),
      kill: () => sup.kill(),
      tree: () => sup.tree(),
    };
  };
}

/** A full child spec for a nested supervisor (type `supervisor`, shutdown `infinity` by default). */
export function supervisorSpec(
  id: string,
  options: NestedSupervisorOptions,
  overrides: { readonly restart?: RestartType; readonly shutdown?: Shutdown } = {},
): ChildSpecInput {
  return { id, type: 'supervisor', start: supervisorChild(options), ...overrides };
}
