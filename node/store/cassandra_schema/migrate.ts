/**
 * Versioned CQL migrations for the Cassandra message store.
 *
 * Migrations are the `NNN_name.cql` files beside this module, applied in version
 * order. `schema_migrations` records each applied version with the checksum of its
 * file. Applying is idempotent: every statement is `IF NOT EXISTS` (a crash between
 * a statement and its record only means the statement runs again), applied versions
 * are skipped, and an applied file whose checksum changed stops the run (released
 * migrations are append-only; add a new file instead).
 *
 * Run it once per deploy (`npm run migrate`, ops/migrate.ts), not from every node at
 * start: concurrent DDL from several clients can leave the cluster in schema
 * disagreement. Tests and the benchmark call it directly on a private keyspace.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type cassandra from 'cassandra-driver';
import { splitCql } from './cql_split.js';

/**
 * Keyspace replication. SimpleStrategy RF 1 is for the local single node (tests,
 * dev); production uses NetworkTopologyStrategy with 3 replicas per datacenter.
 */
export type Replication =
  | { class: 'SimpleStrategy'; replicationFactor: number }
  | { class: 'NetworkTopologyStrategy'; datacenters: Record<string, number> };

export const LOCAL_REPLICATION: Replication = { class: 'SimpleStrategy', replicationFactor: 1 };

export interface Migration {
  version: number;
  name: string;
  checksum: string;
  /** Statements with `{{keyspace}}` still in place. */
  statements: string[];
}

export interface MigrateResult {
  keyspace: string;
  /** Versions applied by this run, ascending. */
  applied: number[];
  /** Highest applied version after the run. */
  version: number;
}

const DIR = path.dirname(fileURLToPath(import.meta.url));
const FILE = /^(\d{3})_([a-z0-9_]+)\.cql$/;
const KEYSPACE = /^[a-z][a-z0-9_]{0,47}$/;

/** The migrations shipped with this build, ascending; throws on a duplicate version. */
export function loadMigrations(dir = DIR): Migration[] {
  const out: Migration[] = [];
  for (const file of readdirSync(dir).sort()) {
    const m = FILE.exec(file);
    if (!m) continue;
    const text = readFileSync(path.join(dir, file), 'utf8');
    const version = Number(m[1]);
    if (out.some((x) => x.version === version)) throw new Error(`duplicate cassandra migration version ${version} (${file})`);
    out.push({
      version,
      name: m[2],
      checksum: createHash('sha256').update(text).digest('hex'),
      statements: splitCql(text),
    });
  }
  return out;
}

/** The newest version this build knows; a store refuses a keyspace below it. */
export function latestVersion(migrations = loadMigrations()): number {
  return migrations.reduce((max, m) => Math.max(max, m.version), 0);
}

/**
 * Parse an operator's replication option: `simple:1` or `dc1:3,dc2:3`
 * (NetworkTopologyStrategy, replicas per datacenter).
 */
export function parseReplication(spec: string): Replication {
  const simple = /^simple:(\d+)$/.exec(spec.trim());
  if (simple) return { class: 'SimpleStrategy', replicationFactor: positive(Number(simple[1]), spec) };
  const datacenters: Record<string, number> = {};
  for (const part of spec.split(',')) {
    const m = /^\s*([A-Za-z0-9_.-]+):(\d+)\s*$/.exec(part);
    if (!m) throw new Error(`replication ${JSON.stringify(spec)}: expected simple:N or dc1:3,dc2:3`);
    datacenters[m[1]] = positive(Number(m[2]), spec);
  }
  return { class: 'NetworkTopologyStrategy', datacenters };
}

export function replicationCql(r: Replication): string {
  if (r.class === 'SimpleStrategy') return `{'class': 'SimpleStrategy', 'replication_factor': ${positive(r.replicationFactor, 'replicationFactor')}}`;
  const dcs = Object.entries(r.datacenters).map(([dc, n]) => `'${dc.replace(/'/g, "''")}': ${positive(n, dc)}`);
  if (dcs.length === 0) throw new Error('NetworkTopologyStrategy needs at least one datacenter');
  return `{'class': 'NetworkTopologyStrategy', ${dcs.join(', ')}}`;
}

/**
 * Create the keyspace if missing (an existing keyspace keeps its replication: changing
 * it is an operator's ALTER plus a repair, not a side effect of a deploy) and apply
 * every migration not yet recorded.
 */
export async function migrate(
  client: cassandra.Client,
  opts: { keyspace: string; replication: Replication; log?: (line: string) => void; migrations?: Migration[] },
): Promise<MigrateResult> {
  const ks = checkKeyspace(opts.keyspace);
  const log = opts.log ?? (() => undefined);
  const migrations = opts.migrations ?? loadMigrations();
  await client.execute(`CREATE KEYSPACE IF NOT EXISTS ${ks} WITH replication = ${replicationCql(opts.replication)}`);
  await client.execute(
    `CREATE TABLE IF NOT EXISTS ${ks}.schema_migrations (version int PRIMARY KEY, name text, checksum text, applied_at timestamp)
     WITH comment = 'migrate: SELECT version, checksum FROM schema_migrations (one row per applied migration)'`,
  );
  const applied = await appliedVersions(client, ks);
  const done: number[] = [];
  for (const m of migrations) {
    const have = applied.get(m.version);
    if (have !== undefined) {
      if (have !== m.checksum) {
        throw new Error(
          `cassandra migration ${m.version}_${m.name} was edited after it was applied to ${ks} ` +
            `(checksum ${have.slice(0, 12)} in the keyspace, ${m.checksum.slice(0, 12)} in this build); add a new migration instead`,
        );
      }
      continue;
    }
    log(`applying ${m.version}_${m.name} to ${ks} (${m.statements.length} statements)`);
    for (const stmt of m.statements) await client.execute(stmt.replaceAll('{{keyspace}}', ks));
    await client.execute(
      `INSERT INTO ${ks}.schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)`,
      [m.version, m.name, m.checksum, new Date()],
      { prepare: true },
    );
    done.push(m.version);
  }
  const version = Math.max(0, ...applied.keys(), ...done);
  return { keyspace: ks, applied: done, version };
}

/** Highest applied version; 0 when the keyspace or the table does not exist. */
export async function schemaVersion(client: cassandra.Client, keyspace: string): Promise<number> {
  const ks = checkKeyspace(keyspace);
  const table = await client.execute(
    'SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?',
    [ks, 'schema_migrations'],
    { prepare: true },
  );
  if (table.rowLength === 0) return 0;
  return Math.max(0, ...(await appliedVersions(client, ks)).keys());
}

async function appliedVersions(client: cassandra.Client, ks: string): Promise<Map<number, string>> {
  const rs = await client.execute(`SELECT version, checksum FROM ${ks}.schema_migrations`);
  return new Map(rs.rows.map((r) => [r.get('version') as number, r.get('checksum') as string]));
}

/** Keyspace names are spliced into CQL, so only the config's safe shape is accepted. */
export function checkKeyspace(keyspace: string): string {
  if (!KEYSPACE.test(keyspace)) throw new Error(`keyspace ${JSON.stringify(keyspace)} must match ${KEYSPACE.source}`);
  return keyspace;
}

function positive(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1) throw new Error(`replication factor for ${what} must be a positive integer`);
  return n;
}
