/**
 * What every switchboardctl command shares: exit codes, the context (where the node
 * is, the API key, output mode), the admin HTTP call and human tables.
 */
import { ConfigError, loadConfig } from '../../node/config.js';
import { REDACTED } from '../../node/auth/redact.js';

/** Exit codes, for scripts (ops/ctl/README.md). */
export const EXIT = {
  /** Done. */
  ok: 0,
  /** The node answered with an error (bad API key, not in a cluster, ...). */
  refused: 1,
  /** Bad command line, or a bad config file (`config check`, the default --url). */
  usage: 2,
  /** No answer from the node: connection refused, reset, DNS, TLS, or --timeout. */
  unreachable: 3,
} as const;

/** An error that ends the command with `exit`. */
export class CtlError extends Error {
  constructor(
    readonly exit: number,
    message: string,
    /** For --json: the HTTP status and catalog code of a refusal. */
    readonly detail: { status?: number; code?: string } = {},
  ) {
    super(message);
    this.name = 'CtlError';
  }
}

export const usageError = (message: string): CtlError => new CtlError(EXIT.usage, message);

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export interface Ctx {
  io: Io;
  /** --json: one JSON document on stdout, for scripts. */
  json: boolean;
  /** --config, for the default --url and for `token`. */
  configPath: string | undefined;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** The node's base URL (--url, else the config's listen host/port). */
  url(): string;
  /** The admin API key (--api-key, else SWITCHBOARD_API_KEY); a usage error when neither. */
  apiKey(): string;
}

export interface CtxOptions {
  io: Io;
  json: boolean;
  url: string | undefined;
  apiKey: string | undefined;
  configPath: string | undefined;
  timeoutMs: number;
  env: NodeJS.ProcessEnv;
}

export function makeCtx(o: CtxOptions): Ctx {
  const key = o.apiKey ?? o.env.SWITCHBOARD_API_KEY ?? '';
  // Belt and braces: whatever path a message takes, the key never reaches the terminal.
  const scrub = (s: string): string => (key.length > 0 ? s.split(key).join(REDACTED) : s);
  const io: Io = { out: (s) => o.io.out(scrub(s)), err: (s) => o.io.err(scrub(s)) };
  let url: string | undefined;
  return {
    io,
    json: o.json,
    configPath: o.configPath,
    env: o.env,
    timeoutMs: o.timeoutMs,
    url: () => (url ??= o.url !== undefined ? checkUrl(o.url) : urlFromConfig(o.configPath, o.env)),
    apiKey: () => {
      if (key === '') throw usageError('no API key: pass --api-key or set SWITCHBOARD_API_KEY (one of the node\'s api.keys)');
      return key;
    },
  };
}

function checkUrl(u: string): string {
  let parsed: URL;
  try {
    parsed = new URL(u);
  } catch {
    throw usageError(`--url: not a URL (${JSON.stringify(u)}); e.g. http://127.0.0.1:8080`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw usageError(`--url: must be http:// or https:// (got ${parsed.protocol})`);
  return parsed.origin;
}

/** http(s)://host:port of the node whose config this is (the node's own loader, so the same file wins). */
function urlFromConfig(configPath: string | undefined, env: NodeJS.ProcessEnv): string {
  let cfg;
  try {
    cfg = loadConfig(configPath !== undefined ? ['--config', configPath] : [], env);
  } catch (e) {
    if (e instanceof ConfigError) throw usageError(`bad configuration (for the default --url): ${e.message}`);
    throw e;
  }
  const { host, port, tls } = cfg.listen;
  if (port === 0) throw usageError('the config has listen.port 0 (any free port): pass --url with the port the node printed');
  // A wildcard bind is reached on loopback from the same host.
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${tls ? 'https' : 'http'}://${h}:${port}`;
}

export interface Answer {
  status: number;
  /** Parsed JSON when the node sent JSON, else null. */
  body: unknown;
  text: string;
}

/**
 * One call to the node. Throws CtlError: `unreachable` when there is no HTTP answer,
 * `refused` for an answer outside 2xx (unless listed in `accept`).
 */
export async function call(ctx: Ctx, method: 'GET' | 'POST', path: string, opts: { auth?: boolean; accept?: number[]; body?: unknown } = {}): Promise<Answer> {
  const base = ctx.url();
  const headers: Record<string, string> = opts.auth === false ? {} : { authorization: `Bearer ${ctx.apiKey()}` };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  let status: number;
  let text: string;
  let type: string;
  try {
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const r = await fetch(base + path, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(ctx.timeoutMs) });
    status = r.status;
    type = r.headers.get('content-type') ?? '';
    text = await r.text();
  } catch (e) {
    throw new CtlError(EXIT.unreachable, `node unreachable at ${base}: ${why(e, ctx.timeoutMs)}`);
  }
  let body: unknown = null;
  if (type.includes('json') && text !== '') {
    try {
      body = JSON.parse(text);
    } catch {
      /* left null; text has it */
    }
  }
  if ((status < 200 || status > 299) && !(opts.accept ?? []).includes(status)) {
    const b = (body ?? {}) as { code?: unknown; message?: unknown };
    const code = typeof b.code === 'string' ? b.code : undefined;
    const message = typeof b.message === 'string' ? b.message : text.slice(0, 200);
    const hint = status === 401 ? ' (check --api-key / SWITCHBOARD_API_KEY against the node\'s api.keys)' : '';
    throw new CtlError(EXIT.refused, `the node refused ${method} ${path}: ${status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}${hint}`, { status, code });
  }
  return { status, body, text };
}

function why(e: unknown, timeoutMs: number): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return `no answer within ${timeoutMs} ms (--timeout)`;
  const c = err.cause;
  if (c?.code === 'ECONNREFUSED') return 'connection refused (ECONNREFUSED): is the node running, on this host and port?';
  if (c?.code) return `${c.code}${c.message ? ` (${c.message})` : ''}`;
  return c?.message ?? err.message ?? String(e);
}

/** Columns padded to their widest cell, two spaces apart; the header in capitals. */
export function table(header: string[], rows: string[][]): string {
  const all = [header.map((h) => h.toUpperCase()), ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i]))).join('  ').trimEnd()).join('\n');
}

/** 0,1,2,3,7,9,10 -> "0-3, 7, 9-10". */
export function ranges(ns: readonly number[]): string {
  const s = [...ns].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j] + 1) j++;
    out.push(i === j ? `${s[i]}` : `${s[i]}-${s[j]}`);
    i = j + 1;
  }
  return out.join(', ');
}

export type Opts = Record<string, string | boolean | undefined>;

/** One switchboardctl command (one file each under ops/ctl/). */
export interface Command {
  /** The words that select it: ['status'], ['config', 'check']. */
  words: string[];
  /** Its synopsis after the words, e.g. 'FILE' or '--user U --device D [--ttl S]'. */
  args: string;
  summary: string;
  /** Its own flags (the global ones are in cli.ts). */
  options?: Record<string, { type: 'string' | 'boolean' }>;
  run(ctx: Ctx, args: string[], opts: Opts): Promise<number>;
}
