/** The MediaStore conformance suite on a real Cassandra (SB_CASSANDRA_CONTACT or one started for the run), own keyspace. */
import { after } from 'node:test';
import { createCassandraClient } from '../store/cassandra_store.js';
import { LOCAL_REPLICATION, replicationCql } from '../store/cassandra_schema/migrate.js';
import { getTestCassandra, testKeyspace } from '../store/cassandra_test_env.js';
import { CassandraMediaStore } from './media_store_cassandra.js';
import { migrateMedia } from './media_schema_cassandra.js';
import { runMediaStoreConformance } from './media_store_conformance.js';

const cass = await getTestCassandra();
const keyspace = testKeyspace('media');
const cfg = { contactPoints: [cass.contactPoint], localDataCenter: cass.localDataCenter, consistency: 'localQuorum' };
const admin = createCassandraClient(cfg);
await admin.execute(`CREATE KEYSPACE IF NOT EXISTS ${keyspace} WITH replication = ${replicationCql(LOCAL_REPLICATION)}`);
await migrateMedia(admin, keyspace);
// Twice: idempotent.
await migrateMedia(admin, keyspace);

after(async () => {
  await admin.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`).catch(() => undefined);
  await admin.shutdown();
  await cass.release();
});

runMediaStoreConformance('cassandra', async () => {
  const client = createCassandraClient(cfg);
  await client.connect();
  return new CassandraMediaStore(client, keyspace);
});
