/**
 * `switchboardctl drain`: POST /admin/drain, the SIGTERM path (node/host/drain.ts): the
 * node closes its listener (/readyz, /admin/* stop answering: a later call gets exit 3),
 * sends every client `goaway` with a jittered reconnect delay and close 4001, flushes
 * the store writer, stops its tree and exits 0 (1 past drain.deadlineMs).
 *
 * Over HTTP the process's exit cannot be seen (the listener is closed first): wait for
 * it with the service manager (`systemctl stop` waits; ops/systemd).
 */
import { call, EXIT, type Command } from './common.js';

export const drain: Command = {
  words: ['drain'],
  args: '',
  summary: 'drain the node as SIGTERM does (POST /admin/drain): goaway to clients, flush, exit',
  async run(ctx) {
    const a = await call(ctx, 'POST', '/admin/drain');
    const status = (a.body as { status?: unknown } | null)?.status;
    if (ctx.json) ctx.io.out(JSON.stringify({ url: ctx.url(), status: typeof status === 'string' ? status : 'draining' }));
    else {
      ctx.io.out(
        `${ctx.url()}: draining. The node has stopped accepting connections, tells its clients to reconnect elsewhere, ` +
          'flushes the store and exits within drain.deadlineMs.',
      );
    }
    return EXIT.ok;
  },
};
