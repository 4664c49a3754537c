/**
 * The configuration reference, docs/CONFIG.md, generated from the config schema:
 * every key with its type, default (defaultConfig()), allowed values (the bounds the
 * schema's checks enforce) and what it does (CONFIG_DOCS), all in node/config.ts.
 *
 *   npm run config:doc            write docs/CONFIG.md
 *   npm run config:doc -- --check exit 1 if docs/CONFIG.md is stale (what the test checks)
 *
 * Generating refuses (names the keys) when a key has no description, a description
 * names no key, or the defaults and the schema disagree on the keys.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CONFIG_DOCS, ConfigError, configSchema, defaultConfig, merge, validateConfig, type Check, type CheckDoc, type Schema } from './config.js';

export const CONFIG_DOC_PATH = path.resolve(new URL('..', import.meta.url).pathname, 'docs/CONFIG.md');

export interface ReferenceInput {
  schema: Readonly<Schema>;
  defaults: unknown;
  docs: Readonly<Record<string, string>>;
}

const current = (): ReferenceInput => ({ schema: configSchema, defaults: defaultConfig(), docs: CONFIG_DOCS });

/** One row of the reference. */
export interface KeyRow {
  key: string;
  type: string;
  default: string;
  allowed: string;
  description: string | undefined;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

/** Every key of the schema, in schema order, with what the reference says about it. */
export function keyRows(input: ReferenceInput = current()): KeyRow[] {
  const rows: KeyRow[] = [];
  const walk = (s: Readonly<Schema>, defaults: unknown, prefix: string): void => {
    for (const [k, check] of Object.entries(s)) {
      const key = prefix ? `${prefix}.${k}` : k;
      const dflt = isObject(defaults) && k in defaults ? defaults[k] : undefined;
      if (typeof check !== 'function') {
        walk(check, dflt, key);
        continue;
      }
      rows.push(row(key, check, dflt === undefined ? 'none' : code(JSON.stringify(dflt)), input.docs));
      const fields = check.doc?.fields;
      if (fields) {
        const sub = check.doc!.type.startsWith('list') ? `${key}[]` : key;
        for (const [f, fc] of Object.entries(fields)) {
          if (typeof fc !== 'function') continue;
          const d = fc.doc?.dflt;
          rows.push(row(`${sub}.${f}`, fc, d === undefined ? 'required' : isJson(d) ? code(d) : d, input.docs));
        }
      }
    }
  };
  walk(input.schema, input.defaults, '');
  return rows;
}

function row(key: string, check: Check, dflt: string, docs: Readonly<Record<string, string>>): KeyRow {
  const doc: CheckDoc | undefined = check.doc;
  return { key, type: doc?.type ?? '', default: dflt, allowed: doc ? allowed(doc) : '', description: docs[key] };
}

function isJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

const code = (s: string): string => '`' + s + '`';

function num(n: number): string {
  return n === Number.MAX_SAFE_INTEGER ? '2^53 - 1' : String(n);
}

function allowed(doc: CheckDoc): string {
  const parts: string[] = [];
  if (doc.min !== undefined && doc.max !== undefined) parts.push(`${num(doc.min)} to ${num(doc.max)}`);
  if (doc.oneOf) parts.push(doc.oneOf.map(code).join(', '));
  if (doc.type === 'boolean') parts.push('`true`, `false`');
  if (doc.rule) parts.push(doc.rule);
  return parts.join('; ') || 'any';
}

/** The leaf keys of a defaults object (arrays and null are values, not sections). */
function leafKeys(v: unknown, prefix = ''): string[] {
  if (!isObject(v)) return [prefix];
  return Object.entries(v).flatMap(([k, x]) => leafKeys(x, prefix ? `${prefix}.${k}` : k));
}

/** What keeps the reference from being generated; empty when it is complete. */
export function referenceProblems(input: ReferenceInput = current()): string[] {
  const rows = keyRows(input);
  const problems: string[] = [];
  const documented = new Set(rows.map((r) => r.key));
  const schemaLeaves = new Set(leafKeys(input.schema as unknown).filter((k) => k !== ''));
  for (const r of rows) {
    if (!r.description?.trim()) problems.push(`${r.key}: no description in CONFIG_DOCS (node/config.ts)`);
    if (!r.type) problems.push(`${r.key}: its check carries no CheckDoc (wrap it with documented())`);
  }
  for (const k of leafKeys(input.defaults)) {
    if (!documented.has(k)) problems.push(`${k}: in defaultConfig() but not in the schema`);
  }
  const defaultLeaves = new Set(leafKeys(input.defaults));
  for (const k of schemaLeaves) {
    if (!defaultLeaves.has(k)) problems.push(`${k}: in the schema but has no default`);
  }
  for (const k of Object.keys(input.docs)) {
    if (!documented.has(k)) problems.push(`${k}: described in CONFIG_DOCS but no such key`);
  }
  return problems;
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

/** An example of the message a bad key stops the node with, produced by the validator itself. */
function exampleError(): string {
  try {
    validateConfig(merge(defaultConfig(), { limits: { maxFrameBytes: 100 } }));
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error('config_doc: the example bad value was accepted');
}

/** docs/CONFIG.md, as text. Throws (naming the keys) when the reference is incomplete. */
export function configReference(input: ReferenceInput = current()): string {
  const problems = referenceProblems(input);
  if (problems.length > 0) throw new Error(`the configuration reference is incomplete:\n  ${problems.join('\n  ')}`);
  const rows = keyRows(input);
  const sections = [...new Set(rows.map((r) => r.key.split(/[.[]/)[0]))];
  const out: string[] = [
    '# Configuration reference',
    '',
    '<!-- Generated by `npm run config:doc` from node/config.ts (CONFIG_DOCS, the schema, defaultConfig()).',
    '     Do not edit by hand: node/config_doc.test.ts fails when this file differs from what it generates. -->',
    '',
    'A node reads its configuration at start: the defaults below, then a JSON file deep-merged over',
    'them (`--config file.json`, else the `SWITCHBOARD_CONFIG` environment variable, else',
    '`./switchboard.json` when present), then the flags `--port`, `--host`, `--data-dir`, `--node-id`',
    'and `--shards`. A file names only the keys it changes:',
    '',
    '```json',
    '{ "listen": { "host": "0.0.0.0", "port": 8443 }, "api": { "keys": ["<at least 24 characters>"] } }',
    '```',
    '',
    'Every key is validated once, at start. A value of the wrong type or out of range, or an unknown',
    'key (a typo), stops the node with exit code 2 and a message naming the key, e.g.',
    '',
    '```',
    `switchboard: bad configuration: ${exampleError()}`,
    '```',
    '',
    'Check a file before deploying it, with the same validator: `switchboardctl config check FILE`',
    '(`npm run ctl -- config check FILE`; ops/ctl/README.md). Sizes are in bytes and times in',
    'milliseconds unless the key says otherwise. "allowed" is what the validator accepts;',
    'rules between keys are stated in the descriptions.',
    '',
    sections.map((s) => `[${s}](#${s})`).join(' · '),
  ];
  for (const s of sections) {
    out.push('', `## ${s}`, '', '| key | type | default | allowed | what it does |', '|---|---|---|---|---|');
    for (const r of rows.filter((x) => x.key === s || x.key.startsWith(`${s}.`))) {
      out.push(`| \`${r.key}\` | ${cell(r.type)} | ${cell(r.default)} | ${cell(r.allowed)} | ${cell(r.description ?? '')} |`);
    }
  }
  return out.join('\n') + '\n';
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const text = configReference();
  const rel = path.relative(process.cwd(), CONFIG_DOC_PATH);
  if (process.argv.includes('--check')) {
    let now = '';
    try {
      now = readFileSync(CONFIG_DOC_PATH, 'utf8');
    } catch {
      /* missing: stale */
    }
    if (now !== text) {
      console.error(`${rel} is stale: run npm run config:doc`);
      process.exitCode = 1;
    } else console.error(`${rel} is up to date`);
  } else {
    writeFileSync(CONFIG_DOC_PATH, text);
    console.error(`wrote ${rel} (${keyRows().length} keys)`);
  }
}
