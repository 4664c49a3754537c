/**
 * `switchboardctl kick USER [DEVICE]`: close the user's connections (one device's with
 * DEVICE) wherever in the cell they are, with close code 4409 `kicked` (protocol/codes.ts,
 * PROTOCOL.md §9.2): a terminal code, so a conforming client does not reconnect by
 * itself. The token stays valid: to keep a user out, also stop issuing it tokens.
 * (POST /admin/kick)
 */
import { CLOSE_CODES } from '../../protocol/codes.js';
import { call, CtlError, EXIT, table, usageError, type Command } from './common.js';
import { reportPeerErrors, type PeerError, type Session } from './sessions.js';

export const kick: Command = {
  words: ['kick'],
  args: 'USER [DEVICE]',
  summary: `close the user's (device's) connections with close code ${CLOSE_CODES.kicked.code} kicked (POST /admin/kick)`,
  async run(ctx, args) {
    if (args.length < 1 || args.length > 2 || args.some((a) => a === '')) throw usageError(`kick: give USER [DEVICE] (got ${args.length ? args.join(' ') : 'none'})`);
    const [user, device] = args;
    const a = await call(ctx, 'POST', '/admin/kick', { body: { user, ...(device ? { device } : {}) } });
    const b = a.body as { kicked: Session[]; nodes: number; errors: PeerError[] } | null;
    if (!b || !Array.isArray(b.kicked)) throw new CtlError(EXIT.refused, `unexpected answer: ${a.text.slice(0, 200)}`);
    const who = device ? `${user}/${device}` : user;
    if (ctx.json) ctx.io.out(JSON.stringify({ ...b, close_code: CLOSE_CODES.kicked.code }, null, 2));
    else if (b.kicked.length === 0) ctx.io.out(`${who}: no open connection to close (${b.nodes} node${b.nodes === 1 ? '' : 's'} asked)`);
    else {
      ctx.io.out(`${who}: closed ${b.kicked.length} connection${b.kicked.length === 1 ? '' : 's'} with ${CLOSE_CODES.kicked.code} kicked`);
      ctx.io.out(table(['device', 'node', 'shard', 'conn'], b.kicked.map((s) => [s.device, s.node, String(s.shard), String(s.conn)])));
    }
    return reportPeerErrors(ctx, b.errors);
  },
};
