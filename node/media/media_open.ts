/**
 * Opening what media work needs from plain-data settings (the same in the host and
 * in the media listener thread, which each open their own handles): the metadata
 * store that follows store.kind, and the blob store.
 */
import path from 'node:path';
import type { BlobStore } from './blob_store.js';
import { createBlobStore } from './blob_store_factory.js';
import type { MediaStore } from './media_store.js';
import { SqliteMediaStore } from './media_store_sqlite.js';
import { CassandraMediaStore } from './media_store_cassandra.js';
import { mediaSchemaVersion, migrateMedia, MEDIA_MIGRATIONS } from './media_schema_cassandra.js';
import { createCassandraClient } from '../store/cassandra_store.js';
import type { Config } from '../config.js';

/** The media section of the node config (node/config.ts documents each key). */
export type MediaSettings = Config['media'];

/** What the metadata store needs: the node's store section and data dir. */
export interface MediaStoreSettings {
  dataDir: string;
  kind: 'sqlite' | 'cassandra';
  cassandra: { contactPoints: string[]; localDataCenter: string; keyspace: string; consistency: string; migrateOnStart: boolean };
}

export async function openMediaStore(s: MediaStoreSettings): Promise<MediaStore> {
  if (s.kind === 'sqlite') return new SqliteMediaStore(path.join(s.dataDir, 'media.sqlite'));
  const client = createCassandraClient(s.cassandra);
  try {
    await client.connect();
    if (s.cassandra.migrateOnStart) await migrateMedia(client, s.cassandra.keyspace);
    const have = await mediaSchemaVersion(client, s.cassandra.keyspace);
    const want = Math.max(...MEDIA_MIGRATIONS.map((m) => m.version));
    if (have < want) throw new Error(`cassandra keyspace ${s.cassandra.keyspace} has media schema ${have}, this build needs ${want}: run \`npm run migrate\``);
    return new CassandraMediaStore(client, s.cassandra.keyspace);
  } catch (e) {
    await client.shutdown().catch(() => undefined);
    throw e;
  }
}

/** Where staged upload bytes live on this node. */
export function stagingDir(dataDir: string): string {
  return path.join(dataDir, 'media', 'staging');
}

/** The blob store media.store names (node/media/blob_store_factory.ts). */
export async function openBlobs(dataDir: string, media: MediaSettings): Promise<BlobStore> {
  return createBlobStore({ node: { dataDir }, media });
}
