/**
 * Every message between a supervisor and a supervised worker thread: one union per
 * direction. The `$sup:` prefix keeps them apart from the application's own messages
 * on the same port, which pass through to `onMessage` untouched.
 */

export type SupervisorToThread =
  /**
   * Close everything and end by yourself within `deadlineMs` (may be `Infinity`). A
   * thread holding uWS sockets must close them all before its event loop empties:
   * ending with open uWS sockets aborts the whole process.
   */
  | { readonly type: '$sup:stop'; readonly deadlineMs: number }
  /** Liveness probe; answer with a pong carrying the same `seq`. */
  | { readonly type: '$sup:ping'; readonly seq: number };

export type ThreadToSupervisor =
  /** Initialization is done (e.g. listening); sent once, if the child waits for it. */
  | { readonly type: '$sup:ready' }
  | { readonly type: '$sup:pong'; readonly seq: number };

export function isThreadToSupervisor(message: unknown): message is ThreadToSupervisor {
  if (typeof message !== 'object' || message === null) return false;
  const m = message as { type?: unknown; seq?: unknown };
  return m.type === '$sup:ready' || (m.type === '$sup:pong' && typeof m.seq === 'number');
}

export function isSupervisorToThread(message: unknown): message is SupervisorToThread {
  if (typeof message !== 'object' || message === null) return false;
  const m = message as { type?: unknown; seq?: unknown; deadlineMs?: unknown };
  return (m.type === '$sup:stop' && typeof m.deadlineMs === 'number') || (m.type === '$sup:ping' && typeof m.seq === 'number');
}
