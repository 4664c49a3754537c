/**
 * `switchboardctl migrate [--replication SPEC] [--status]`: the Cassandra schema
 * migrations of the node's config (store.cassandra; --config, else
 * $SWITCHBOARD_CONFIG, else ./switchboard.json), as `npm run migrate` (ops/migrate.ts,
 * run as a child process so its exit is its own). Idempotent: applied versions are
 * skipped. --status prints the applied version and changes nothing. --replication
 * (simple:1, or dc1:3,dc2:3) is used only when the keyspace does not exist yet.
 *
 * Exit: 0 done; 1 Cassandra refused or is unreachable; 2 bad usage or config.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CtlError, EXIT, type Command } from './common.js';

const TSX = import.meta.resolve('tsx');
const SCRIPT = fileURLToPath(new URL('../migrate.ts', import.meta.url));

export interface MigrateResult {
  keyspace: string;
  version: number;
  /** Migrations applied by this run (empty when it was up to date or --status). */
  applied: string[];
  /** With --status: the version this build ships. */
  latest?: number;
  /** The media tables, versioned on their own (node/media/media_schema_cassandra.ts). */
  media?: { applied: string[]; version?: number; latest?: number };
}

/** The summary lines ops/migrate.ts prints (the message schema's, then the media tables'), as data. */
export function parseMigrateOutput(out: string): MigrateResult | null {
  let res: MigrateResult | null = null;
  let media: MigrateResult['media'];
  for (const line of out.trim().split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = /^(\S+): applied media (.+)$/.exec(line))) media = { applied: m[2].split(', ') };
    else if (/^\S+: media schema up to date$/.test(line)) media = { applied: [] };
    else if ((m = /^\S+: media schema version (\d+), this build ships (\d+)$/.exec(line))) media = { applied: [], version: Number(m[1]), latest: Number(m[2]) };
    else if ((m = /^(\S+): applied (.+); now at version (\d+)$/.exec(line))) res = { keyspace: m[1], applied: m[2].split(', '), version: Number(m[3]) };
    else if ((m = /^(\S+): already at version (\d+), nothing to do$/.exec(line))) res = { keyspace: m[1], applied: [], version: Number(m[2]) };
    else if ((m = /^(\S+): schema version (\d+), this build ships (\d+)$/.exec(line))) res = { keyspace: m[1], applied: [], version: Number(m[2]), latest: Number(m[3]) };
  }
  return res && media ? { ...res, media } : res;
}

export const migrate: Command = {
  words: ['migrate'],
  args: '[--replication simple:1|dc1:3,dc2:3] [--status]',
  summary: 'apply the Cassandra schema migrations of the node config (as npm run migrate)',
  options: { replication: { type: 'string' }, status: { type: 'boolean' } },
  async run(ctx, args, opts) {
    if (args.length) throw new CtlError(EXIT.usage, `migrate: no arguments expected (got ${args.join(' ')})`);
    const argv = ['--import', TSX, SCRIPT];
    const config = ctx.configPath ?? ctx.env.SWITCHBOARD_CONFIG;
    if (config) argv.push('--config', config);
    if (typeof opts.replication === 'string') argv.push('--replication', opts.replication);
    if (opts.status === true) argv.push('--status');
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      // In the operator's directory: a relative --config and ./switchboard.json mean what they say.
      execFile(process.execPath, argv, { cwd: process.cwd(), env: { ...ctx.env }, maxBuffer: 16 << 20 }, (err, out, errOut) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout: out, stderr: errOut }),
      );
    });
    if (code !== 0) {
      const why = (stderr.trim() || stdout.trim()).split('\n').slice(0, 3).join('; ');
      throw new CtlError(code === 2 ? EXIT.usage : EXIT.refused, `migrate failed (exit ${code}): ${why}`);
    }
    const res = parseMigrateOutput(stdout);
    if (ctx.json) ctx.io.out(JSON.stringify(res ?? { output: stdout.trim() }, null, 2));
    else ctx.io.out(stdout.trimEnd());
    return EXIT.ok;
  },
};
