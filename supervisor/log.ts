/**
 * The one logger of a Switchboard process (pino): one JSON event per line on stderr,
 * with stable field names (docs/LOGS.md), levels, redaction, and a level that can be
 * changed while running. The host thread and every worker thread (socket shards)
 * log through this module; each thread has its own instance (module state is per
 * thread) and the host tells its shards when the level changes.
 *
 * It sits in supervisor/ because every layer logs and supervisor/ is a leaf that
 * shards/ and node/ may both import; it knows nothing of chat. What is secret is
 * decided here by key name (REDACT_KEYS), plus a string scrubber the product installs
 * (node/auth/redact.ts: JWTs, bearer values, ticket= parameters) for free text such as
 * error messages.
 *
 * Writes are synchronous (pino.destination sync): a line written before a crash or an
 * exit is not lost, and at the default level (info) there are few lines. Debug lines
 * (the per-message trace) cost nothing unless the level is debug: callers check
 * `isDebug()` before building their fields.
 */
import { createHash } from 'node:crypto';
import { pino, type Logger } from 'pino';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type Log = (level: string, msg: string, fields?: Record<string, unknown>) => void;

export const CENSOR = '[redacted]';

/**
 * Field names whose values never reach a log line, at any depth: credentials (tokens,
 * API keys, secrets, private keys, passphrases, tickets, authorization headers) and
 * message content (`body`). Compared case-insensitively.
 */
export const REDACT_KEYS = [
  'token',
  'authorization',
  'apikey',
  'api_key',
  'keys',
  'secret',
  'urlsecret',
  'secretfile',
  'secretaccesskey',
  'passphrase',
  'password',
  'privatekeypem',
  'keypem',
  'vapidprivatekey',
  'serviceaccountjson',
  'ticket',
  'body',
  'meta',
] as const;

const REDACT_SET = new Set<string>(REDACT_KEYS);

/**
 * pino `redact` paths: each key at the top level and one level down (the shapes log
 * calls use: `{token}`, `{op: {body}}`). Deeper objects (a whole config) go through
 * the `config` serializer, which scrubs by key name at any depth.
 */
export const REDACT_PATHS: string[] = REDACT_KEYS.flatMap((k) => [k, `*.${k}`]).concat(
  // The same names as the node spells them (redact paths are case-sensitive).
  ['apiKey', 'urlSecret', 'secretFile', 'secretAccessKey', 'privateKeyPem', 'keyPem', 'vapidPrivateKey', 'serviceAccountJson'].flatMap((k) => [k, `*.${k}`]),
);

/** A deep copy of `v` with every REDACT_KEYS field replaced by CENSOR (for whole configs). */
export function scrubSecrets(v: unknown, depth = 0): unknown {
  if (depth > 12 || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => scrubSecrets(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    out[k] = REDACT_SET.has(k.toLowerCase()) && x !== '' && x !== null ? CENSOR : scrubSecrets(x, depth + 1);
  }
  return out;
}

let scrubText: (s: string) => string = (s) => s;

function makeLogger(level: LogLevel): Logger<never, boolean> {
  return pino(
    {
      level,
      base: { pid: process.pid },
      messageKey: 'msg',
      timestamp: () => `,"ts":"${new Date().toISOString()}"`,
      formatters: {
        level: (label) => ({ level: label }),
        // Free text (error messages, reasons) through the product's scrubber.
        log: (o) => {
          for (const [k, v] of Object.entries(o)) if (typeof v === 'string') o[k] = scrubText(v);
          return o;
        },
      },
      hooks: {
        logMethod(args, method) {
          const i = typeof args[0] === 'string' ? 0 : 1;
          if (typeof args[i] === 'string') args[i] = scrubText(args[i] as string);
          return method.apply(this, args as Parameters<typeof method>);
        },
      },
      redact: { paths: REDACT_PATHS, censor: CENSOR },
      serializers: { err: pino.stdSerializers.err, config: scrubSecrets },
    },
    pino.destination({ dest: 2, sync: true }),
  );
}

// A process starts at info (or SWITCHBOARD_LOG_LEVEL) until the config is read.
const envLevel = process.env.SWITCHBOARD_LOG_LEVEL;
const root = makeLogger((LOG_LEVELS as readonly string[]).includes(envLevel ?? '') ? (envLevel as LogLevel) : 'info');

/**
 * Set up this thread's logger: the level from the config, fields bound to every line
 * (`node`, `shard`) and the scrubber for free text. Call once, early.
 */
export function configureLog(o: { level?: LogLevel; bindings?: Record<string, unknown>; scrub?: (s: string) => string }): void {
  if (o.scrub) scrubText = o.scrub;
  if (o.level) root.level = o.level;
  if (o.bindings) root.setBindings(o.bindings);
}

/** This thread's logger (pino): `logger().info({evt: 'x', ...fields}, 'message')`. */
export function logger(): Logger<never, boolean> {
  return root;
}

export function logLevel(): LogLevel {
  return root.level as LogLevel;
}

/** Change the level at run time (POST /admin/log-level; the host forwards it to its shards). */
export function setLogLevel(level: LogLevel): void {
  root.level = level;
}

export function isDebug(): boolean {
  return root.isLevelEnabled('debug');
}

/** The `(level, msg, fields)` call most of the code base uses, onto this logger. */
export const log: Log = (level, msg, fields = {}) => {
  const l = (LOG_LEVELS as readonly string[]).includes(level) ? (level as LogLevel) : 'info';
  root[l](fields, msg);
};

/**
 * The trace id of a message: the same on every node and thread that handles it,
 * computed from what each stage already has (sender, device, conversation, client
 * message id), so nothing extra crosses a socket, a thread or a peer link.
 */
export function traceId(sender: string, device: string, conversation: string, clientMsgId: string): string {
  return createHash('sha256').update(`${sender}\u0000${device}\u0000${conversation}\u0000${clientMsgId}`).digest('base64url').slice(0, 12);
}
