/**
 * Loading the config at start: defaults, a JSON file (--config, SWITCHBOARD_CONFIG,
 * or ./switchboard.json when present), then a few command-line overrides.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from './checks.js';
import { defaultConfig } from './defaults.js';
import type { Config } from './types.js';
import { merge, validateConfig } from './validate.js';
export interface CliOverrides {
  config?: string;
  port?: number;
  host?: string;
  dataDir?: string;
  nodeId?: string;
  shards?: number;
}

export function parseArgs(argv: string[]): CliOverrides {
  const out: CliOverrides = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new ConfigError(a, 'needs a value');
      return v;
    };
    switch (a) {
      case '--config': out.config = next(); break;
      case '--port': out.port = Number(next()); break;
      case '--host': out.host = next(); break;
      case '--data-dir': out.dataDir = next(); break;
      case '--node-id': out.nodeId = next(); break;
      case '--shards': out.shards = Number(next()); break;
      default: throw new ConfigError(a, 'unknown command-line option (known: --config --port --host --data-dir --node-id --shards)');
    }
  }
  return out;
}

/** Load: defaults <- file <- CLI flags, then validate. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Config {
  const cli = parseArgs(argv);
  let raw: unknown = defaultConfig();
  const file = cli.config ?? env.SWITCHBOARD_CONFIG ?? (existsSync('switchboard.json') ? 'switchboard.json' : undefined);
  if (file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new ConfigError('--config', `cannot read ${file}: ${(e as Error).message}`);
    }
    raw = merge(raw, parsed);
  }
  const over: Record<string, unknown> = {};
  if (cli.port !== undefined) over.listen = { port: cli.port };
  if (cli.host !== undefined) over.listen = { ...(over.listen as object), host: cli.host };
  if (cli.dataDir !== undefined) over.node = { dataDir: cli.dataDir };
  if (cli.nodeId !== undefined) over.node = { ...(over.node as object), id: cli.nodeId };
  if (cli.shards !== undefined) over.shards = { count: cli.shards };
  raw = merge(raw, over);
  const cfg = validateConfig(raw);
  cfg.node.dataDir = path.resolve(cfg.node.dataDir);
  if (cfg.store.sqlite.file === '') cfg.store.sqlite.file = path.join(cfg.node.dataDir, 'switchboard.sqlite');
  return cfg;
}
