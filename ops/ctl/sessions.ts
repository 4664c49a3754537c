/**
 * `switchboardctl sessions USER`: the user's open connections, on this node and (in a
 * cell) on every other node: node, shard, device, since when (GET /admin/sessions/USER).
 * A node of the cell that did not answer is listed on stderr and makes the exit 1:
 * the list may be incomplete.
 */
import type { Session } from '../../node/admin/admin_service.js';
import { call, CtlError, EXIT, table, usageError, type Command, type Ctx } from './common.js';

export type { Session } from '../../node/admin/admin_service.js';

export interface PeerError {
  node: string;
  status: number;
  message: string;
}

export function oneArg(args: string[], what: string, cmd: string): string {
  if (args.length !== 1 || args[0] === '') throw usageError(`${cmd}: give one ${what} (got ${args.length ? args.join(' ') : 'none'})`);
  return args[0];
}

/** Nodes of the cell that did not answer: on stderr, and exit 1 (the answer may be incomplete). */
export function reportPeerErrors(ctx: Ctx, errors: PeerError[] | undefined): number {
  for (const e of errors ?? []) ctx.io.err(`switchboardctl: node ${e.node} did not answer (${e.status || 'unreachable'}): ${e.message}`);
  return errors && errors.length ? EXIT.refused : EXIT.ok;
}

export const sessions: Command = {
  words: ['sessions'],
  args: 'USER',
  summary: "the user's connections: node, shard, device, since (GET /admin/sessions/USER)",
  async run(ctx, args) {
    const user = oneArg(args, 'user id', 'sessions');
    const a = await call(ctx, 'GET', `/admin/sessions/${encodeURIComponent(user)}`);
    const b = a.body as { user: string; sessions: Session[]; nodes: number; errors: PeerError[] } | null;
    if (!b || !Array.isArray(b.sessions)) throw new CtlError(EXIT.refused, `unexpected answer: ${a.text.slice(0, 200)}`);
    if (ctx.json) ctx.io.out(JSON.stringify(b, null, 2));
    else if (b.sessions.length === 0) ctx.io.out(`${user}: no open connection (${b.nodes} node${b.nodes === 1 ? '' : 's'} asked)`);
    else {
      ctx.io.out(table(['device', 'node', 'shard', 'conn', 'since'], b.sessions.map((s) => [s.device, s.node, String(s.shard), String(s.conn), s.since ?? '?'])));
    }
    return reportPeerErrors(ctx, b.errors);
  },
};
