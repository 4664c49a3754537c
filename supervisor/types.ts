/**
 * The supervision vocabulary shared by child specs (child_spec.ts), the exit rule
 * (exit_reason.ts), shutdowns (shutdown.ts) and the status tree (tree.ts). A leaf:
 * it imports nothing, so those files can all use it without importing each other
 * (child_spec.ts needs child_handle.ts, which needs exit_reason.ts and tree.ts).
 */

/** `permanent`: always restarted. `transient`: only after an abnormal exit. `temporary`: never. */
export type RestartType = 'permanent' | 'transient' | 'temporary';
export type ChildType = 'worker' | 'supervisor';
/**
 * How long a child gets to stop after being asked, in ms, before it is killed.
 * `brutal_kill` kills at once; `infinity` waits for ever (the default for supervisors,
 * which bound their own children's shutdowns).
 */
export type Shutdown = number | 'brutal_kill' | 'infinity';
