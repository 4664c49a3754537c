/**
 * `switchboardctl log-level [LEVEL]`: the node's log level, or set it (debug, info,
 * warn, error) while it runs: the host and every socket shard switch at once
 * (GET|POST /admin/log-level). Not persisted: a restart goes back to log.level.
 */
import { call, EXIT, usageError, type Command } from './common.js';

const LEVELS = ['debug', 'info', 'warn', 'error'];

export const logLevel: Command = {
  words: ['log-level'],
  args: '[LEVEL]',
  summary: 'show or set the log level at run time: debug, info, warn, error (/admin/log-level)',
  async run(ctx, args) {
    if (args.length > 1) throw usageError(`log-level: at most one LEVEL (got ${args.join(' ')})`);
    if (args.length === 0) {
      const a = await call(ctx, 'GET', '/admin/log-level');
      const level = (a.body as { level: string }).level;
      ctx.io.out(ctx.json ? JSON.stringify({ level }) : level);
      return EXIT.ok;
    }
    if (!LEVELS.includes(args[0])) throw usageError(`log-level: LEVEL must be one of ${LEVELS.join(', ')} (got ${args[0]})`);
    const a = await call(ctx, 'POST', '/admin/log-level', { body: { level: args[0] } });
    const b = a.body as { previous: string; level: string };
    ctx.io.out(ctx.json ? JSON.stringify(b) : `log level ${b.previous} -> ${b.level}`);
    return EXIT.ok;
  },
};
