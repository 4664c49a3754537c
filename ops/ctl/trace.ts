/**
 * `switchboardctl trace CONVERSATION [--seq N | --message ID]`: where a message is
 * (GET /admin/trace). With --seq or --message: the stored message (seq, id, sender,
 * server time; the body's size, never the body), which devices have it (delivered /
 * read cursors) and its receipts. Without: the conversation (members, last seq, the
 * owner node and its fencing epoch, every device's cursors).
 *
 * A message id alone does not name its conversation (ids are not indexed), so it is
 * given with the conversation, e.g. from a client's report or a log line.
 */
import { call, CtlError, EXIT, table, usageError, type Command } from './common.js';
import { oneArg } from './sessions.js';

interface Owner {
  shard: number | null;
  node: string | null;
  epoch: number | null;
}

interface ConversationTrace {
  conversation: string;
  kind: string;
  members: Array<{ user: string; role: string }>;
  last_seq: number;
  first_seq: number;
  owner: Owner;
  cursors: Array<{ user: string; device: string; delivered: number; read: number; behind: number }>;
}

interface MessageTrace {
  message: { conversation: string; seq: number; message_id: string; sender: string; sender_device: string; client_msg_id: string; server_ts: number; body_bytes: number };
  owner: Owner;
  members: string[];
  devices: Array<{ user: string; device: string; delivered: boolean; read: boolean; delivered_cursor: number; read_cursor: number }>;
  receipts: { delivered_to: string[]; read_by: string[]; pending: string[] };
}

const owner = (o: Owner): string => (o.shard === null ? `${o.node} (single node)` : `shard ${o.shard} owned by ${o.node ?? 'nobody right now'}${o.epoch !== null ? ` at epoch ${o.epoch}` : ''}`);

export const trace: Command = {
  words: ['trace'],
  args: 'CONVERSATION [--seq N | --message ID]',
  summary: 'where a message is: stored, which devices have it, receipts; or a conversation (GET /admin/trace)',
  options: { seq: { type: 'string' }, message: { type: 'string' } },
  async run(ctx, args, opts) {
    const conversation = oneArg(args, 'conversation id', 'trace');
    if (opts.seq !== undefined && opts.message !== undefined) throw usageError('trace: --seq or --message, not both');
    if (opts.seq !== undefined && !/^[1-9]\d*$/.test(String(opts.seq))) throw usageError(`trace: --seq must be a positive integer (got ${String(opts.seq)})`);
    const q = new URLSearchParams({ conversation });
    if (typeof opts.seq === 'string') q.set('seq', opts.seq);
    if (typeof opts.message === 'string') q.set('message', opts.message);
    const a = await call(ctx, 'GET', `/admin/trace?${q}`);
    if (!a.body || typeof a.body !== 'object') throw new CtlError(EXIT.refused, `unexpected answer: ${a.text.slice(0, 200)}`);
    if (ctx.json) {
      ctx.io.out(JSON.stringify(a.body, null, 2));
      return EXIT.ok;
    }
    if ('message' in (a.body as object)) {
      const t = a.body as MessageTrace;
      const m = t.message;
      ctx.io.out(`stored: ${m.conversation} seq ${m.seq}, message ${m.message_id}, from ${m.sender}/${m.sender_device} (client_msg_id ${m.client_msg_id}) at ${new Date(m.server_ts).toISOString()}, ${m.body_bytes} bytes`);
      ctx.io.out(`conversation: ${owner(t.owner)}`);
      ctx.io.out(table(['user', 'device', 'delivered', 'read', 'cursors d/r'], t.devices.map((d) => [d.user, d.device, d.delivered ? 'yes' : 'no', d.read ? 'yes' : 'no', `${d.delivered_cursor}/${d.read_cursor}`])));
      const r = t.receipts;
      ctx.io.out(`receipts: delivered to ${r.delivered_to.join(', ') || 'nobody'}; read by ${r.read_by.join(', ') || 'nobody'}; not yet delivered to ${r.pending.join(', ') || 'nobody'}`);
    } else {
      const t = a.body as ConversationTrace;
      ctx.io.out(`${t.conversation} (${t.kind}): seq ${t.first_seq}..${t.last_seq}; ${owner(t.owner)}`);
      ctx.io.out(`members: ${t.members.map((m) => (m.role === 'admin' ? `${m.user} (admin)` : m.user)).join(', ')}`);
      ctx.io.out(table(['user', 'device', 'delivered', 'read', 'behind'], t.cursors.map((c) => [c.user, c.device, String(c.delivered), String(c.read), String(c.behind)])));
    }
    return EXIT.ok;
  },
};
