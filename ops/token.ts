/**
 * Dev CLI: mint a token the node will accept.
 *
 *   npm run token -- --user alice --device phone [--ttl 3600] [--config switchboard.json] [--data-dir DIR] [--kid k]
 *
 * The token goes to stdout (so `TOKEN=$(npm run -s token -- ...)` works); notes go to
 * stderr. The key comes from the node's own config: its `auth` section if it has one,
 * otherwise the dev default (HS256, secret in `<dataDir>/dev-secret`, created on first
 * use). Config is `--config`, else `./switchboard.json` if present, else none. The data
 * dir is `--data-dir`, else the config's node.dataDir, else ./data: the same rule as the
 * node's own `--data-dir` flag, so `npm start -- --data-dir X` pairs with
 * `npm run token -- --data-dir X`. Without `--kid`, the first key able to sign is used;
 * an EdDSA key needs `privateKeyPem`. A negative `--ttl=-60` mints a token that expired
 * that long ago (to try a client's token_expired handling); note the `=`, since
 * `--ttl -60` reads as two options.
 */
import { existsSync, readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { validateAuthConfig } from '../node/auth/config.js';
import { DEFAULT_DATA_DIR, devAuthConfig } from '../node/auth/dev.js';
import { canSign, signToken } from '../node/auth/sign.js';
import type { AuthConfig } from '../node/auth/types.js';

const DEFAULT_CONFIG = './switchboard.json';
const DEFAULT_TTL_SEC = 3600;
/** A dev token that lives longer than a month is a production token by accident. */
const MAX_TTL_SEC = 30 * 24 * 3600;

const USAGE = `usage: npm run token -- --user <id> --device <id> [--ttl <seconds>, or --ttl=-<seconds> for an expired one] [--config <path>] [--data-dir <dir>] [--kid <kid>]`;

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

class UsageError extends Error {}

export interface Loaded {
  auth: AuthConfig;
  source: string;
}

/** The signing keys the node would accept: from the config (or ./switchboard.json), else the dev secret. */
export function loadAuth(configPath: string | undefined, dataDirFlag: string | undefined): Loaded {
  const path = configPath ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);
  if (path === undefined) {
    const dir = dataDirFlag ?? DEFAULT_DATA_DIR;
    return { auth: devAuthConfig(dir), source: `dev default (secret in ${dir}/dev-secret)` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`cannot read config ${path}: ${(err as Error).message}`);
  }
  // The node's config file (node/config.ts): auth.keys, or the dev secret under node.dataDir.
  const cfg = (typeof raw === 'object' && raw !== null ? raw : {}) as { auth?: Record<string, unknown>; node?: { dataDir?: unknown } };
  const keys = cfg.auth?.keys;
  if (Array.isArray(keys) && keys.length > 0) {
    const auth = Object.fromEntries(Object.entries(cfg.auth!).filter(([, v]) => v !== ''));
    return { auth: validateAuthConfig({ clockToleranceSec: 5, ticketTtlMs: 30_000, ...auth }, 'auth'), source: `${path} (auth)` };
  }
  const dataDir = dataDirFlag ?? (typeof cfg.node?.dataDir === 'string' ? cfg.node.dataDir : DEFAULT_DATA_DIR);
  return { auth: devAuthConfig(dataDir), source: `dev default from ${path} (secret in ${dataDir}/dev-secret)` };
}

export async function main(argv: string[], io: Io): Promise<number> {
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        user: { type: 'string' },
        device: { type: 'string' },
        ttl: { type: 'string' },
        config: { type: 'string' },
        'data-dir': { type: 'string' },
        kid: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    if (values.user === undefined || values.device === undefined) throw new UsageError('--user and --device are required');
    const ttl = values.ttl === undefined ? DEFAULT_TTL_SEC : Number(values.ttl);
    if (!Number.isInteger(ttl) || ttl === 0 || Math.abs(ttl) > MAX_TTL_SEC) {
      throw new UsageError(`--ttl must be a whole number of seconds from 1 to ${MAX_TTL_SEC}, or from -${MAX_TTL_SEC} to -1 (written --ttl=-60) for an already expired token (got ${values.ttl})`);
    }
    const { auth, source } = loadAuth(values.config, values['data-dir']);
    const key = values.kid === undefined ? auth.keys.find(canSign) : auth.keys.find((k) => k.kid === values.kid);
    if (key === undefined) {
      throw new UsageError(
        values.kid === undefined
          ? `no key in ${source} can sign: EdDSA keys need privateKeyPem (mint tokens with the issuer's private key instead)`
          : `no key with kid "${values.kid}" in ${source} (have: ${auth.keys.map((k) => k.kid).join(', ')})`,
      );
    }
    if (!canSign(key)) throw new UsageError(`key "${key.kid}" in ${source} is EdDSA without privateKeyPem, so it cannot sign`);
    const token = await signToken(
      { user: values.user, device: values.device, ttlSec: ttl, issuer: auth.issuer, audience: auth.audience },
      key,
    );
    io.out(token);
    const expires = new Date(Date.now() + ttl * 1000).toISOString();
    io.err(`note: dev token for user=${values.user} device=${values.device}, kid=${key.kid}, key from ${source}, ${ttl < 0 ? 'expired' : 'expires'} ${expires}. For development only.`);
    return 0;
  } catch (err) {
    io.err(`token: ${(err as Error).message}`);
    // parseArgs reports bad flags as TypeError with an ERR_PARSE_ARGS_* code.
    const usage = err instanceof UsageError || String((err as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS');
    if (usage) io.err(USAGE);
    return usage ? 2 : 1;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2), {
    out: (l) => process.stdout.write(l + '\n'),
    err: (l) => process.stderr.write(l + '\n'),
  });
}
