/**
 * `switchboardctl migrate` against a real Cassandra (the shared test one, or a
 * private one started from the cached jars: node/store/cassandra_test_env.ts), on a
 * fresh keyspace named in a node config file: --status before, the migrations, a
 * second run that has nothing to do, --json, and a Cassandra that is not there.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { getTestCassandra, type TestCassandra } from '../../node/store/cassandra_test_env.js';
import { createCassandraClient } from '../../node/store/cassandra_client.js';
import { defaultConfig } from '../../node/config.js';
import { latestVersion } from '../../node/store/cassandra_schema/migrate.js';
import { MEDIA_MIGRATIONS } from '../../node/media/media_schema_cassandra.js';

const CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const dir = mkdtempSync(path.join(tmpdir(), 'sb-ctl-migrate-'));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function ctl(args: string[]): Promise<Run> {
  const env = { ...process.env };
  delete env.SWITCHBOARD_CONFIG;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', TSX, CLI, ...args], { cwd: dir, env, timeout: 180_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

const show = (r: Run): string => `exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;

describe('switchboardctl migrate', () => {
  let cass: TestCassandra;
  const keyspace = `sb_ctl_${randomBytes(4).toString('hex')}`;
  before(async () => {
    cass = await getTestCassandra();
    // A relative path: resolved in the operator's directory, as they typed it.
    writeFileSync(
      path.join(dir, 'node.json'),
      JSON.stringify({ store: { kind: 'cassandra', cassandra: { contactPoints: [cass.contactPoint], localDataCenter: cass.localDataCenter, keyspace, consistency: 'one' } } }),
    );
  });
  after(async () => {
    const client = createCassandraClient({ ...defaultConfig().store.cassandra, contactPoints: [cass.contactPoint], localDataCenter: cass.localDataCenter });
    try {
      await client.connect();
      await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
    } finally {
      await client.shutdown();
      await cass.release();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('applies the schema once, then has nothing to do; --status and --json report the version', async () => {
    const before = await ctl(['--config', 'node.json', '--json', 'migrate', '--status']);
    assert.equal(before.code, 0, show(before));
    assert.deepEqual(JSON.parse(before.stdout), { keyspace, applied: [], version: 0, latest: latestVersion(), media: { applied: [], version: 0, latest: MEDIA_MIGRATIONS.length } });

    const first = await ctl(['--config', 'node.json', 'migrate']);
    assert.equal(first.code, 0, show(first));
    assert.match(first.stdout, new RegExp(`${keyspace}: applied .+; now at version ${latestVersion()}`));

    const again = await ctl(['--config', 'node.json', '--json', 'migrate']);
    assert.equal(again.code, 0, show(again));
    assert.deepEqual(JSON.parse(again.stdout), { keyspace, applied: [], version: latestVersion(), media: { applied: [] } });
  });

  it('a Cassandra that is not there: exit 1 naming the failure; a bad flag: exit 2', async () => {
    writeFileSync(path.join(dir, 'nowhere.json'), JSON.stringify({ store: { kind: 'cassandra', cassandra: { contactPoints: ['127.0.0.1:1'], keyspace } } }));
    const r = await ctl(['--config', 'nowhere.json', 'migrate']);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /migrate failed \(exit 1\)/);
    const bad = await ctl(['--config', 'node.json', 'migrate', '--replication', 'sideways']);
    assert.equal(bad.code, 2, show(bad));
    assert.match(bad.stderr, /migrate failed \(exit 2\)/);
  });
});
