/** CassandraPushStore against a real Cassandra (node/store/cassandra_test_env.ts): the shared PushStore conformance suite. */
import { after } from 'node:test';
import { createCassandraClient } from '../store/cassandra_store.js';
import { LOCAL_REPLICATION, migrate } from '../store/cassandra_schema/migrate.js';
import { getTestCassandra, testKeyspace } from '../store/cassandra_test_env.js';
import { CassandraPushStore } from './cassandra_push_store.js';
import { runPushStoreConformance } from './push_conformance.js';

const cass = await getTestCassandra();
const keyspace = testKeyspace('push');
const cfg = { contactPoints: [cass.contactPoint], localDataCenter: cass.localDataCenter, consistency: 'one' };
const admin = createCassandraClient(cfg);
await migrate(admin, { keyspace, replication: LOCAL_REPLICATION });

after(async () => {
  await admin.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`).catch(() => undefined);
  await admin.shutdown();
  await cass.release();
});

runPushStoreConformance('cassandra', async () => {
  const client = createCassandraClient(cfg);
  await client.connect();
  return new CassandraPushStore(client, keyspace, true);
});
