/**
 * `switchboardctl config check FILE`: is FILE a configuration the node would start
 * with? It runs the node's own loader (node/config.ts loadConfig: the defaults, FILE
 * merged over them, every key validated, the auth keys imported), so the answer and the
 * message are the node's: `ok`, or the bad key and what is wrong with it (exit 2).
 * Reference for every key: docs/CONFIG.md.
 */
import { ConfigError, loadConfig } from '../../node/config.js';
import { checkPushCredentials } from '../../node/push/providers/credentials_check.js';
import { EXIT, usageError, type Command } from './common.js';

export const configCheck: Command = {
  words: ['config', 'check'],
  args: 'FILE',
  summary: 'validate a config file exactly as the node does at start; names the bad key',
  async run(ctx, args) {
    if (args.length !== 1) throw usageError('config check: give one FILE');
    const file = args[0];
    try {
      // Only FILE: --config wins over SWITCHBOARD_CONFIG and ./switchboard.json in the loader.
      const cfg = loadConfig(['--config', file], {});
      // What the node checks right after loading (key material of enabled push providers).
      checkPushCredentials(cfg.push);
      if (ctx.json) ctx.io.out(JSON.stringify({ ok: true, file }));
      else {
        const where = `${cfg.listen.tls ? 'https' : 'http'}://${cfg.listen.host}:${cfg.listen.port}`;
        ctx.io.out(`ok: ${file}`);
        ctx.io.out(
          `  node ${cfg.node.id} on ${where}, store ${cfg.store.kind}, ${cfg.cluster.enabled ? 'in a cell' : 'single node'}, ` +
            `${cfg.auth.keys.length || 'no'} auth key${cfg.auth.keys.length === 1 ? '' : 's'}${cfg.auth.keys.length ? '' : ' (dev secret)'}, ` +
            `${cfg.api.keys.length || 'no'} API key${cfg.api.keys.length === 1 ? '' : 's'}`,
        );
      }
      return EXIT.ok;
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      const problem = e.message.startsWith(`${e.key}: `) ? e.message.slice(e.key.length + 2) : e.message;
      if (ctx.json) ctx.io.out(JSON.stringify({ ok: false, file, key: e.key, problem }));
      ctx.io.err(`${file}: bad configuration: ${e.message}`);
      return EXIT.usage;
    }
  },
};
