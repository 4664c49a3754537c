/**
 * `switchboardctl connections`: the node's open client connections per socket shard
 * (GET /admin/connections). --json prints the node's answer.
 */
import { call, EXIT, table, type Command } from './common.js';

export interface Connections {
  node: string;
  total: number;
  users: number;
  shards: Array<{ shard: number; connections: number }>;
}

export const connections: Command = {
  words: ['connections'],
  args: '',
  summary: 'open client connections per socket shard (GET /admin/connections)',
  async run(ctx) {
    const a = await call(ctx, 'GET', '/admin/connections');
    const c = a.body as Connections;
    if (ctx.json) ctx.io.out(JSON.stringify(c, null, 2));
    else {
      ctx.io.out(table(['shard', 'connections'], c.shards.map((s) => [String(s.shard), String(s.connections)])));
      ctx.io.out(`${c.node}: ${c.total} connection${c.total === 1 ? '' : 's'} of ${c.users} user${c.users === 1 ? '' : 's'}`);
    }
    return EXIT.ok;
  },
};
