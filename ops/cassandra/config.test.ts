import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderCassandraYaml, renderLogbackXml, type NodeConfig } from './config.js';
import { jvmArgs, MAIN_CLASS } from './jvm_args.js';
import { nodeLayout } from './layout.js';

const base: NodeConfig = {
  clusterName: 'switchboard-local',
  host: '127.0.0.1',
  cqlPort: 19042,
  storagePort: 17000,
  dataDir: '/tmp/node',
  logDir: '/tmp/node/logs',
  commitlogSync: 'batch',
  commitlogGroupWindowMs: 5,
  paxosVariant: 'v2',
};

/** Top-level `key: value` pairs; enough to check what the renderer chose. */
function topLevel(yaml: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of yaml.split('\n')) {
    const hit = /^([a-z_]+):\s*(.*)$/.exec(line);
    if (hit) m.set(hit[1], hit[2]);
  }
  return m;
}

test('yaml binds loopback, uses the given ports and keeps all state under dataDir', () => {
  const y = renderCassandraYaml(base);
  const kv = topLevel(y);
  assert.equal(kv.get('listen_address'), '127.0.0.1');
  assert.equal(kv.get('rpc_address'), '127.0.0.1');
  assert.equal(kv.get('native_transport_port'), '19042');
  assert.equal(kv.get('storage_port'), '17000');
  assert.match(y, /seeds: "127\.0\.0\.1:17000"/);
  for (const k of ['commitlog_directory', 'saved_caches_directory', 'hints_directory', 'cdc_raw_directory']) {
    assert.ok(kv.get(k)?.startsWith('"/tmp/node/'), k);
  }
  assert.match(y, /data_file_directories:\n {2}- "\/tmp\/node\/data"/);
  assert.equal(kv.get('auto_snapshot'), 'false');
  assert.equal(kv.get('num_tokens'), '1');
});

test('commitlog_sync follows the chosen mode', () => {
  assert.equal(topLevel(renderCassandraYaml(base)).get('commitlog_sync'), 'batch');
  const group = topLevel(renderCassandraYaml({ ...base, commitlogSync: 'group' }));
  assert.equal(group.get('commitlog_sync'), 'group');
  assert.equal(group.get('commitlog_sync_group_window'), '5ms');
  const periodic = topLevel(renderCassandraYaml({ ...base, commitlogSync: 'periodic' }));
  assert.equal(periodic.get('commitlog_sync_period'), '10000ms');
});

test('the commit log uses direct I/O where the file system allows it', () => {
  // 'auto' resolves to direct (or legacy mmap where O_DIRECT is unsupported, e.g. tmpfs);
  // 'direct' would refuse to start there.
  assert.equal(topLevel(renderCassandraYaml(base)).get('commitlog_disk_access_mode'), 'auto');
});

test('no key is rendered twice (Cassandra rejects duplicate keys)', () => {
  for (const mode of ['batch', 'group', 'periodic'] as const) {
    const keys = renderCassandraYaml({ ...base, commitlogSync: mode })
      .split('\n')
      .map((l) => /^([a-z_]+):/.exec(l)?.[1])
      .filter((k): k is string => k !== undefined);
    assert.equal(new Set(keys).size, keys.length, mode);
  }
});

test('logback writes system.log into the log dir, with a pattern logback 1.5 accepts', () => {
  const x = renderLogbackXml({ logDir: '/tmp/node/logs' });
  assert.match(x, /<file>\/tmp\/node\/logs\/system\.log<\/file>/);
  // logback 1.5 reads "{HH:mm:ss,SSS}" as a time zone named SSS and refuses to start.
  assert.doesNotMatch(x, /%date\{[^}]*,/);
});

test('jvm args: Java 17 module flags, heap, config paths, jamm agent, main class last', () => {
  const layout = nodeLayout('/tmp/node');
  const args = jvmArgs({ layout, libDir: '/lib', jars: ['cassandra-all-5.0.9.jar', 'jamm-0.4.0.jar'], heap: '1G', jit: 'quick' });
  assert.ok(args.includes('-XX:TieredStopAtLevel=1'));
  assert.equal(args.at(-1), MAIN_CLASS);
  assert.ok(args.includes('-Xms1G') && args.includes('-Xmx1G'));
  assert.ok(args.includes('-javaagent:/lib/jamm-0.4.0.jar'));
  assert.ok(args.includes('-Dcassandra.config=file:///tmp/node/conf/cassandra.yaml'));
  assert.ok(args.includes('-Dcassandra.storagedir=/tmp/node'));
  const opens = args.flatMap((a, i) => (a === '--add-opens' ? [args[i + 1]] : []));
  assert.ok(opens.includes('java.base/sun.nio.ch=ALL-UNNAMED'));
  assert.equal(args[args.indexOf('-cp') + 1], '/lib/*');
  assert.ok(!args.some((a) => a.startsWith('-Dcassandra.jmx')), 'JMX off unless asked for');
  const withJmx = jvmArgs({ layout, libDir: '/lib', jars: [], heap: '512M', jit: 'full', jmxPort: 7199 });
  assert.ok(!withJmx.includes('-XX:TieredStopAtLevel=1'));
  assert.ok(withJmx.includes('-Dcassandra.jmx.local.port=7199'));
});

test('yaml sets the Paxos variant the store\'s seq guard runs on', () => {
  assert.equal(topLevel(renderCassandraYaml(base)).get('paxos_variant'), 'v2');
  assert.equal(topLevel(renderCassandraYaml({ ...base, paxosVariant: 'v1' })).get('paxos_variant'), 'v1');
});
