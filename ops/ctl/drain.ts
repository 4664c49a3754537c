/**
 * `switchboardctl drain`: POST /admin/drain, the SIGTERM path (node/host/drain.ts): the
 * node closes its listener (/readyz, /admin/* stop answering: a later call gets exit 3),
 * sends every client `goaway` with a jittered reconnect delay and close 4001, flushes
 * the store writer, stops its tree and exits 0 (1 past drain.deadlineMs).
 *
 * `drain NODE` drains another node of the cell by id: the node at --url looks it up in
 * membership and calls that node's own /admin/drain (its httpUrl); an unknown id is a
 * 404 (exit 1) naming the live members.
 *
 * Over HTTP the process's exit cannot be seen (the listener is closed first): wait for
 * it with the service manager (`systemctl stop` waits; ops/systemd).
 */
import { call, EXIT, usageError, type Command } from './common.js';

export const drain: Command = {
  words: ['drain'],
  args: '[NODE]',
  summary: 'drain the node (or NODE of its cell) as SIGTERM does (POST /admin/drain): goaway, flush, exit',
  async run(ctx, args) {
    if (args.length > 1 || args[0] === '') throw usageError(`drain: at most one NODE id (got ${args.join(' ')})`);
    const node = args[0];
    // Another node of the cell: the node at --url finds its httpUrl in membership and asks it.
    const a = await call(ctx, 'POST', '/admin/drain', node ? { body: { node } } : {});
    const b = (a.body ?? {}) as { status?: unknown; node?: unknown; http_url?: unknown };
    const status = typeof b.status === 'string' ? b.status : 'draining';
    const which = typeof b.node === 'string' ? b.node : null;
    const where = typeof b.http_url === 'string' ? b.http_url : ctx.url();
    if (ctx.json) ctx.io.out(JSON.stringify({ url: where, status, ...(which ? { node: which } : {}) }));
    else {
      ctx.io.out(
        `${which ? `${which} at ` : ''}${where}: ${status}. The node has stopped accepting connections, tells its clients to reconnect elsewhere, ` +
          'flushes the store and exits within drain.deadlineMs.',
      );
    }
    return EXIT.ok;
  },
};
