/**
 * switchboardctl: the operator's command line for a Switchboard node (ops/ctl/README.md).
 *
 *   switchboardctl [--url URL] [--api-key KEY] [--config FILE] [--json] [--timeout MS] COMMAND ...
 *   npm run ctl -- status
 *
 * One file per command in this folder; this one parses the command line, runs the
 * command and turns its outcome into an exit code (EXIT in common.ts).
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { cluster } from './cluster.js';
import { CtlError, EXIT, makeCtx, usageError, type Command, type Io, type Opts } from './common.js';
import { configCheck } from './config_check.js';
import { drain } from './drain.js';
import { status } from './status.js';
import { token } from './token.js';
import { connections } from './connections.js';
import { sessions } from './sessions.js';
import { kick } from './kick.js';
import { trace } from './trace.js';
import { logLevel } from './log_level.js';
import { migrate } from './migrate.js';

export const COMMANDS: readonly Command[] = [status, connections, sessions, kick, drain, trace, cluster, logLevel, token, migrate, configCheck];

const GLOBAL = {
  url: { type: 'string' },
  'api-key': { type: 'string' },
  config: { type: 'string' },
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const DEFAULT_TIMEOUT_MS = 10_000;

function commandLine(c: Command): string {
  const synopsis = [...c.words, c.args].filter(Boolean).join(' ');
  return synopsis.length <= 17 ? `  ${synopsis.padEnd(19)}${c.summary}` : `  ${synopsis}\n${' '.repeat(21)}${c.summary}`;
}

export const USAGE = `usage: switchboardctl [--url URL] [--api-key KEY] [--config FILE] [--json] [--timeout MS] COMMAND

commands:
${COMMANDS.map(commandLine).join('\n')}

flags:
  --url URL       the node, e.g. http://10.0.0.5:8080 (default: listen.host and listen.port of
                  the node's config: --config, else $SWITCHBOARD_CONFIG, else ./switchboard.json)
  --api-key KEY   one of the node's api.keys, for /admin/* (default: $SWITCHBOARD_API_KEY; prefer
                  the variable, flags show in ps). Never printed.
  --config FILE   the node's config file: for the default --url, and the key \`token\` signs with
  --json          one JSON document on stdout, for scripts (errors too: {"error": {...}})
  --timeout MS    per request to the node (default ${DEFAULT_TIMEOUT_MS})

exit codes: 0 ok; 1 the node answered with an error; 2 usage or configuration error;
            3 the node is unreachable (refused, reset, timed out)`;

const stdio: Io = { out: (s) => process.stdout.write(s + '\n'), err: (s) => process.stderr.write(s + '\n') };

function findCommand(positionals: string[]): Command | undefined {
  return [...COMMANDS].sort((a, b) => b.words.length - a.words.length).find((c) => c.words.every((w, i) => positionals[i] === w));
}

/** Runs one command line; returns the exit code. */
export async function run(argv: string[], io: Io = stdio, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let json = argv.includes('--json');
  try {
    const commandOptions = Object.assign({}, ...COMMANDS.map((c) => c.options ?? {})) as Record<string, { type: 'string' | 'boolean' }>;
    let parsed;
    try {
      parsed = parseArgs({ args: argv, options: { ...commandOptions, ...GLOBAL }, allowPositionals: true, strict: true });
    } catch (e) {
      // ERR_PARSE_ARGS_*: an unknown flag, or a flag without its value.
      throw usageError((e as Error).message);
    }
    const values = parsed.values as Opts;
    json = values.json === true;
    const cmd = findCommand(parsed.positionals);
    if (values.help) {
      io.out(cmd ? `usage: switchboardctl ${[...cmd.words, cmd.args].filter(Boolean).join(' ')}\n  ${cmd.summary}\n\n${USAGE}` : USAGE);
      return EXIT.ok;
    }
    if (!cmd) {
      io.err(USAGE);
      throw usageError(parsed.positionals.length ? `unknown command: ${parsed.positionals.join(' ')}` : 'no command given');
    }
    for (const k of Object.keys(values)) {
      if (!(k in GLOBAL) && !(cmd.options && k in cmd.options)) throw usageError(`--${k} is not an option of ${cmd.words.join(' ')}`);
    }
    const timeoutMs = values.timeout === undefined ? DEFAULT_TIMEOUT_MS : Number(values.timeout);
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 600_000) throw usageError('--timeout: milliseconds, 1 to 600000');
    const ctx = makeCtx({
      io,
      json,
      url: values.url as string | undefined,
      apiKey: values['api-key'] as string | undefined,
      configPath: values.config as string | undefined,
      timeoutMs,
      env,
    });
    try {
      return await cmd.run(ctx, parsed.positionals.slice(cmd.words.length), values);
    } catch (e) {
      // Through the context's io, which scrubs the API key.
      return fail(e, ctx.io, json);
    }
  } catch (e) {
    return fail(e, io, json);
  }
}

function fail(e: unknown, io: Io, json: boolean): number {
  const err = e instanceof CtlError ? e : new CtlError(EXIT.refused, `error: ${(e as Error)?.stack ?? String(e)}`);
  if (json) io.out(JSON.stringify({ error: { exit: err.exit, message: err.message, ...err.detail } }));
  io.err(`switchboardctl: ${err.message}`);
  return err.exit;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await run(process.argv.slice(2));
}
