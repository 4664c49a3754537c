/**
 * Media end to end with the Cassandra metadata store: a node on store.kind `cassandra`
 * (migrateOnStart: the message and media schemas) keeps slots, blobs, references and
 * usage in Cassandra (node/media/media_store_cassandra.ts), bytes on the filesystem
 * store. The same suite as node/e2e/media.test.ts.
 */
import { after, before } from 'node:test';
import path from 'node:path';
import { FsBlobStore } from '../media/blob_store_fs.js';
import { createCassandraClient } from '../store/cassandra_store.js';
import { getTestCassandra, testKeyspace, type TestCassandra } from '../store/cassandra_test_env.js';
import { runMediaE2e } from './media_suite.js';

let cass: TestCassandra;
const keyspaces: string[] = [];
before(async () => {
  cass = await getTestCassandra();
});
after(async () => {
  const admin = createCassandraClient({ contactPoints: [cass.contactPoint], localDataCenter: cass.localDataCenter, consistency: 'one' });
  for (const ks of keyspaces) await admin.execute(`DROP KEYSPACE IF EXISTS ${ks}`).catch(() => undefined);
  await admin.shutdown();
  await cass.release();
});

runMediaE2e({
  name: 'Cassandra metadata, filesystem bytes',
  s3: false,
  config: () => {
    const keyspace = testKeyspace('media_e2e');
    keyspaces.push(keyspace);
    return { store: { kind: 'cassandra', cassandra: { contactPoints: [cass.contactPoint], localDataCenter: 'datacenter1', keyspace, consistency: 'one', migrateOnStart: true } } };
  },
  blobs: (node) => new FsBlobStore({ dir: path.join(node.dataDir, 'blobs') }),
});
