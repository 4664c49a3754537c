/**
 * `switchboardctl token --user U --device D [--ttl S] [--kid K]`: a client token the
 * node accepts, minted by ops/token.ts (`npm run token`) with the key from the node's
 * config (--config, else $SWITCHBOARD_CONFIG, else ./switchboard.json, else the dev
 * secret in ./data). The token
 * goes to stdout; with --json as {"token": ...}. Development and testing only.
 */
import { main as mintToken } from '../token.js';
import { EXIT, type Command } from './common.js';

export const token: Command = {
  words: ['token'],
  args: '--user U --device D [--ttl SECONDS] [--kid KID]',
  summary: 'mint a dev client token the node accepts (as npm run token)',
  options: { user: { type: 'string' }, device: { type: 'string' }, ttl: { type: 'string' }, kid: { type: 'string' } },
  async run(ctx, _args, opts) {
    const argv: string[] = [];
    for (const k of ['user', 'device', 'ttl', 'kid'] as const) if (typeof opts[k] === 'string') argv.push(`--${k}`, opts[k] as string);
    // The node's config as the node finds it: --config, else SWITCHBOARD_CONFIG (ops/token.ts then tries ./switchboard.json).
    const config = ctx.configPath ?? ctx.env.SWITCHBOARD_CONFIG;
    if (config !== undefined && config !== '') argv.push('--config', config);
    let minted = '';
    const code = await mintToken(argv, {
      out: (line) => (minted = line),
      err: (line) => ctx.io.err(line.replace(/^token: /, 'switchboardctl token: ').replace(/usage: npm run token -- /, 'usage: switchboardctl token ')),
    });
    // ops/token.ts: 2 = usage, 1 = a key it cannot use; both are the caller's to fix.
    if (code !== 0) return EXIT.usage;
    ctx.io.out(ctx.json ? JSON.stringify({ token: minted }) : minted);
    return EXIT.ok;
  },
};
