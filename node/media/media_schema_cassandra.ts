/**
 * The media tables in the message store's keyspace, versioned on their own
 * (`media_schema_migrations`), so they never interleave with the message store's
 * numbered migrations. Append-only like those: add a version, never edit one.
 * Applied by `migrateMedia` (from `npm run migrate` and, for dev and tests,
 * store.cassandra.migrateOnStart), idempotent (IF NOT EXISTS everywhere).
 */
import type cassandra from 'cassandra-driver';

export const MEDIA_MIGRATIONS: ReadonlyArray<{ version: number; name: string; statements: string[] }> = [
  {
    version: 1,
    name: 'media',
    statements: [
      // One partition per upload slot / media: point reads and LWTs only.
      `CREATE TABLE IF NOT EXISTS {ks}.media (
        media_id text PRIMARY KEY, owner text, conversation text, size bigint,
        declared_mime text, declared_sha256 text, created_at bigint, expires_at bigint,
        state text, upload_offset bigint, node text, mime text, sha256 text,
        width int, height int, completed_at bigint, referenced boolean
      ) WITH comment = 'media slots and completed media (node/media/media_store_cassandra.ts)'`,
      `CREATE TABLE IF NOT EXISTS {ks}.media_blobs (
        sha256 text PRIMARY KEY, blob_key text, size bigint, mime text, state text,
        created_at bigint, linked_at bigint
      ) WITH comment = 'one stored copy per content hash'`,
      // Partition per blob: the media linked to it (a few; popular forwards are hundreds).
      `CREATE TABLE IF NOT EXISTS {ks}.media_blob_links (
        sha256 text, media_id text, PRIMARY KEY (sha256, media_id)
      ) WITH comment = 'media ids linked to a blob (dedup)'`,
      `CREATE TABLE IF NOT EXISTS {ks}.media_refs (
        media_id text, conversation text, seq bigint, PRIMARY KEY (media_id, conversation, seq)
      ) WITH comment = 'messages that carry a media'`,
      `CREATE TABLE IF NOT EXISTS {ks}.media_usage (
        user_id text, day text, bytes counter, PRIMARY KEY ((user_id, day))
      ) WITH comment = 'bytes uploaded per user and UTC day (quota)'`,
    ],
  },
  {
    version: 2,
    name: 'media_refs_by_conversation',
    statements: [
      // Partition per conversation, clustered by seq: retention trims a prefix of it.
      `CREATE TABLE IF NOT EXISTS {ks}.media_refs_by_conversation (
        conversation text, seq bigint, media_id text, PRIMARY KEY ((conversation), seq, media_id)
      ) WITH comment = 'media references by conversation (retention trimming)'`,
    ],
  },
  {
    version: 3,
    name: 'media_blurhash',
    statements: ['ALTER TABLE {ks}.media ADD IF NOT EXISTS blurhash text'],
  },
];

/** Apply the media migrations not yet recorded in the keyspace (which must exist). */
export async function migrateMedia(client: cassandra.Client, keyspace: string): Promise<number[]> {
  if (!/^[a-z][a-z0-9_]{0,47}$/.test(keyspace)) throw new Error(`bad keyspace ${JSON.stringify(keyspace)}`);
  await client.execute(`CREATE TABLE IF NOT EXISTS ${keyspace}.media_schema_migrations (version int PRIMARY KEY, name text, applied_at timestamp)`);
  const rs = await client.execute(`SELECT version FROM ${keyspace}.media_schema_migrations`);
  const have = new Set(rs.rows.map((r) => r.get('version') as number));
  const applied: number[] = [];
  for (const m of MEDIA_MIGRATIONS) {
    if (have.has(m.version)) continue;
    for (const s of m.statements) await client.execute(s.replaceAll('{ks}', keyspace));
    await client.execute(`INSERT INTO ${keyspace}.media_schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`, [m.version, m.name, new Date()], { prepare: true });
    applied.push(m.version);
  }
  return applied;
}

/** Highest media schema version applied; 0 when none. */
export async function mediaSchemaVersion(client: cassandra.Client, keyspace: string): Promise<number> {
  const t = await client.execute('SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?', [keyspace, 'media_schema_migrations'], { prepare: true });
  if (t.rowLength === 0) return 0;
  const rs = await client.execute(`SELECT version FROM ${keyspace}.media_schema_migrations`);
  return Math.max(0, ...rs.rows.map((r) => r.get('version') as number));
}
