/**
 * `npm run migrate`: bring the configured Cassandra keyspace to this build's schema.
 *
 *   npm run migrate                                    node config from ./switchboard.json / SWITCHBOARD_CONFIG
 *   npm run migrate -- --config prod.json --replication dc1:3,dc2:3
 *   npm run migrate -- --status                        print the applied version, change nothing
 *
 * Idempotent: applied migrations are skipped (node/store/cassandra_schema/migrate.ts),
 * so running it on every deploy is safe. Run it from one place, before the new nodes
 * start; nodes only check the version.
 *
 * --replication is used only when the keyspace does not exist yet: `simple:1` (the
 * default; local single node) or NetworkTopologyStrategy replicas per datacenter,
 * e.g. `dc1:3,dc2:3` for production. An existing keyspace keeps its replication.
 *
 * Exit codes: 0 done (or --status), 1 failed, 2 bad usage.
 */
import { loadConfig } from '../node/config.js';
import { createCassandraClient } from '../node/store/cassandra_store.js';
import { latestVersion, migrate, parseReplication, schemaVersion } from '../node/store/cassandra_schema/migrate.js';
import { MEDIA_MIGRATIONS, mediaSchemaVersion, migrateMedia } from '../node/media/media_schema_cassandra.js';

function usage(msg: string): never {
  console.error(`${msg}\nusage: npm run migrate -- [--config FILE] [--replication simple:1|dc1:3,dc2:3] [--status]`);
  process.exit(2);
}

const argv = process.argv.slice(2);
let replicationSpec = 'simple:1';
let statusOnly = false;
const configArgs: string[] = [];
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--replication') replicationSpec = argv[++i] ?? usage('--replication needs a value');
  else if (a === '--status') statusOnly = true;
  else if (a === '--help' || a === '-h') usage('npm run migrate: apply Cassandra schema migrations');
  else configArgs.push(a);
}

let cfg;
let replication;
try {
  cfg = loadConfig(configArgs).store.cassandra;
  replication = parseReplication(replicationSpec);
} catch (e) {
  usage((e as Error).message);
}

const client = createCassandraClient(cfg);
try {
  await client.connect();
  if (statusOnly) {
    const have = await schemaVersion(client, cfg.keyspace);
    console.log(`${cfg.keyspace}: schema version ${have}, this build ships ${latestVersion()}`);
    console.log(`${cfg.keyspace}: media schema version ${await mediaSchemaVersion(client, cfg.keyspace)}, this build ships ${MEDIA_MIGRATIONS.length}`);
  } else {
    const res = await migrate(client, { keyspace: cfg.keyspace, replication, log: (l) => console.log(l) });
    console.log(
      res.applied.length
        ? `${res.keyspace}: applied ${res.applied.join(', ')}; now at version ${res.version}`
        : `${res.keyspace}: already at version ${res.version}, nothing to do`,
    );
    // The media tables (node/media/media_schema_cassandra.ts) are versioned on their own.
    const media = await migrateMedia(client, cfg.keyspace);
    console.log(media.length ? `${cfg.keyspace}: applied media ${media.join(', ')}` : `${cfg.keyspace}: media schema up to date`);
  }
} catch (e) {
  console.error(`migrate failed (${cfg.contactPoints.join(', ')}, keyspace ${cfg.keyspace}): ${(e as Error).message}`);
  process.exitCode = 1;
} finally {
  await client.shutdown();
}
