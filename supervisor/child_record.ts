/**
 * What a supervisor keeps per child: the validated spec, the live handle (if running),
 * its state and restart count. Plus the pure projection to status data.
 */
import type { ChildHandle } from './child_handle.js';
import type { ChildSpec } from './child_spec.js';
import { summarizeReason, type ExitReason } from './exit_reason.js';
import type { ChildState, ChildStatus } from './tree.js';

export interface ChildRecord {
  readonly spec: ChildSpec;
  state: ChildState;
  /** Set exactly while the child runs; an exit from any other handle is stale. */
  handle: ChildHandle | undefined;
  restarts: number;
  lastExit: ExitReason | undefined;
}

export function newRecord(spec: ChildSpec): ChildRecord {
  return { spec, state: 'stopped', handle: undefined, restarts: 0, lastExit: undefined };
}

/** Status data for one child; optional fields are left out, not set to undefined. */
export function childStatus(rec: ChildRecord): ChildStatus {
  const identity = rec.handle?.identity?.() ?? {};
  const tree = rec.handle?.tree?.();
  return {
    id: rec.spec.id,
    type: rec.spec.type,
    restart: rec.spec.restart,
    state: rec.state,
    restarts: rec.restarts,
    ...(identity.pid !== undefined ? { pid: identity.pid } : {}),
    ...(identity.threadId !== undefined ? { threadId: identity.threadId } : {}),
    ...(rec.lastExit !== undefined ? { lastExit: summarizeReason(rec.lastExit) } : {}),
    ...(tree !== undefined ? { tree } : {}),
  };
}
