import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CONFIG_DOCS, ConfigError, configSchema, defaultConfig, merge, validateConfig, type Schema } from './config.js';
import { CONFIG_DOC_PATH, configReference, keyRows, referenceProblems } from './config_doc.js';

/** The leaf keys of the defaults (arrays and null are values). */
function leaves(v: unknown, prefix = ''): string[] {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return [prefix];
  return Object.entries(v).flatMap(([k, x]) => leaves(x, prefix ? `${prefix}.${k}` : k));
}

/** { a: { b: v } } for key "a.b". */
function at(key: string, v: unknown): Record<string, unknown> {
  return key.split('.').reduceRight<unknown>((acc, k) => ({ [k]: acc }), v) as Record<string, unknown>;
}

function rejectsKey(key: string, v: unknown): void {
  // A key inside listen.tls (null by default) is checked inside an otherwise valid tls object.
  const base = key.startsWith('listen.tls.') ? merge(defaultConfig(), { listen: { tls: { certFile: 'c.pem', keyFile: 'k.pem' } } }) : defaultConfig();
  assert.throws(
    () => validateConfig(merge(base, at(key, v))),
    (e: unknown) => e instanceof ConfigError && e.key === key,
    `${key} = ${JSON.stringify(v)} should be refused naming ${key}`,
  );
}

describe('the configuration reference (docs/CONFIG.md)', () => {
  it('is what npm run config:doc generates from node/config.ts today', () => {
    const want = configReference();
    const have = readFileSync(CONFIG_DOC_PATH, 'utf8');
    if (have !== want) {
      const a = have.split('\n');
      const b = want.split('\n');
      const i = b.findIndex((line, n) => a[n] !== line);
      assert.fail(`docs/CONFIG.md is stale: run npm run config:doc\n  line ${i + 1} is:        ${a[i]}\n  it should read: ${b[i]}`);
    }
  });

  it('describes every key of the defaults, and only real keys', () => {
    assert.deepEqual(referenceProblems(), []);
    const missing = leaves(defaultConfig()).filter((k) => !CONFIG_DOCS[k]?.trim());
    assert.deepEqual(missing, [], 'keys of defaultConfig() without a description in CONFIG_DOCS');
    const rows = new Set(keyRows().map((r) => r.key));
    for (const k of leaves(defaultConfig())) assert.ok(rows.has(k), `${k} has no row in the reference`);
    // The fields inside object-valued keys are documented too.
    for (const k of ['listen.tls.certFile', 'listen.tls.keyFile', 'listen.tls.passphrase', 'auth.keys[].kid', 'auth.keys[].alg', 'auth.keys[].secret']) {
      assert.ok(rows.has(k), k);
    }
  });

  it('refuses to generate when a key is added without a description, naming it', () => {
    const limits = configSchema.limits as Schema;
    const schema = { ...configSchema, limits: { ...limits, maxWidgets: limits.maxFrameBytes } };
    const defaults = merge(defaultConfig(), { limits: { maxWidgets: 3 } });
    assert.throws(() => configReference({ schema, defaults, docs: CONFIG_DOCS }), /limits\.maxWidgets: no description/);
    // ...and passes once it has one.
    assert.doesNotThrow(() => configReference({ schema, defaults, docs: { ...CONFIG_DOCS, 'limits.maxWidgets': 'Widgets.' } }));
  });

  it('flags a description left behind for a removed key, and a default missing from the schema', () => {
    const problems = referenceProblems({ schema: configSchema, defaults: merge(defaultConfig(), { drain: { extra: 1 } }), docs: { ...CONFIG_DOCS, 'limits.gone': 'x' } });
    assert.ok(problems.some((p) => p.startsWith('limits.gone: described in CONFIG_DOCS but no such key')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('drain.extra: in defaultConfig() but not in the schema')), problems.join('\n'));
  });

  it('states the bounds the validator enforces: just outside them is refused naming the key', () => {
    let checked = 0;
    for (const r of keyRows()) {
      const m = /^(\d+) to (\d+|2\^53 - 1)$/.exec(r.allowed);
      if (r.type !== 'integer' || r.key.includes('[]')) continue;
      assert.ok(m, `${r.key}: integer without a range (${r.allowed})`);
      const min = Number(m[1]);
      const max = m[2] === '2^53 - 1' ? Number.MAX_SAFE_INTEGER : Number(m[2]);
      if (min > 0) rejectsKey(r.key, min - 1);
      if (max < Number.MAX_SAFE_INTEGER) rejectsKey(r.key, max + 1);
      rejectsKey(r.key, 1.5);
      checked++;
    }
    assert.ok(checked >= 45, `only ${checked} integer keys checked`);
  });

  it('lists exactly the values a one-of key accepts', () => {
    let checked = 0;
    for (const r of keyRows()) {
      if (!r.allowed.startsWith('`') || r.type !== 'string' || r.key.includes('[]')) continue;
      const values = [...r.allowed.matchAll(/`([^`]+)`/g)].map((x) => x[1]);
      for (const v of values) assert.doesNotThrow(() => validateConfig(merge(defaultConfig(), at(r.key, v))), `${r.key} = ${v}`);
      rejectsKey(r.key, 'no-such-value');
      checked++;
    }
    assert.ok(checked >= 4, `${checked} one-of keys checked`);
  });

  it('shows each default as the node has it', () => {
    const d = defaultConfig() as unknown as Record<string, unknown>;
    for (const r of keyRows()) {
      if (r.key.includes('[]') || r.key.startsWith('listen.tls.')) continue;
      const v = r.key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], d);
      assert.equal(r.default, '`' + JSON.stringify(v) + '`', r.key);
    }
  });
});
