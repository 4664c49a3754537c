import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, defaultConfig, loadConfig, merge, parseArgs, sendLimitRules, validateConfig, writerOptions } from './config.js';

const dir = mkdtempSync(path.join(tmpdir(), 'switchboard-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function withOverride(over: unknown): unknown {
  return merge(defaultConfig(), over);
}

/** Asserts that validating/loading throws a ConfigError naming `key`. */
function rejects(fn: () => unknown, key: string, problem?: RegExp): ConfigError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    assert.equal(e.key, key, e.message);
    assert.ok(e.message.startsWith(`${key}: `), e.message);
    if (problem) assert.match(e.message, problem);
    return e;
  }
  assert.fail(`expected a ConfigError for ${key}`);
}

/** A config file and no ambient SWITCHBOARD_CONFIG. */
function file(content: unknown): string {
  const p = path.join(dir, `c${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
}

describe('validateConfig', () => {
  it('accepts the defaults unchanged', () => {
    assert.deepEqual(validateConfig(defaultConfig()), defaultConfig());
  });

  it('names the key of a value of the wrong type', () => {
    rejects(() => validateConfig(withOverride({ listen: { port: '8080' } })), 'listen.port', /integer/);
    rejects(() => validateConfig(withOverride({ node: { id: 5 } })), 'node.id', /string/);
    rejects(() => validateConfig(withOverride({ limits: { sendBurst: 1.5 } })), 'limits.sendBurst');
    rejects(() => validateConfig(withOverride({ store: { cassandra: { contactPoints: 'localhost' } } })), 'store.cassandra.contactPoints');
    rejects(() => validateConfig(withOverride({ limits: 3 })), 'limits', /object/);
  });

  it('names the key of a value out of range', () => {
    rejects(() => validateConfig(withOverride({ listen: { port: 65536 } })), 'listen.port', /between 0 and 65535/);
    rejects(() => validateConfig(withOverride({ shards: { count: 257 } })), 'shards.count');
    rejects(() => validateConfig(withOverride({ push: { webpush: { endpointHosts: ['fcm.googleapis.com', 'https://evil.example'] } } })), 'push.webpush.endpointHosts[1]', /host name or IP address/);
    rejects(() => validateConfig(withOverride({ limits: { maxFrameBytes: 100 } })), 'limits.maxFrameBytes');
    rejects(() => validateConfig(withOverride({ store: { kind: 'postgres' } })), 'store.kind', /sqlite, cassandra/);
    rejects(() => validateConfig(withOverride({ log: { level: 'verbose' } })), 'log.level');
    rejects(() => validateConfig(withOverride({ node: { id: '' } })), 'node.id', /empty/);
    rejects(() => validateConfig(withOverride({ store: { cassandra: { keyspace: 'Bad-Name' } } })), 'store.cassandra.keyspace');
    rejects(() => validateConfig(withOverride({ api: { keys: ['short'] } })), 'api.keys[0]', /24/);
  });

  it('names an unknown key, such as a typo', () => {
    rejects(() => validateConfig(withOverride({ limits: { maxFrameByte: 2048 } })), 'limits.maxFrameByte', /unknown key/);
    rejects(() => validateConfig(withOverride({ listne: {} })), 'listne', /unknown key/);
    rejects(() => validateConfig(withOverride({ listen: { tls: { certFile: 'c', keyFile: 'k', pasphrase: '' } } })), 'listen.tls.pasphrase', /unknown key/);
  });

  it('store.cassandra.guardSeqs is on by default, can be switched off, and a non-boolean is named', () => {
    assert.equal(defaultConfig().store.cassandra.guardSeqs, true);
    assert.equal(validateConfig(withOverride({ store: { cassandra: { guardSeqs: false } } })).store.cassandra.guardSeqs, false);
    rejects(() => validateConfig(withOverride({ store: { cassandra: { guardSeqs: 'no' } } })), 'store.cassandra.guardSeqs', /true or false/);
  });

  it('checks the cluster section: a cluster needs the shared store, keys are named', () => {
    const cass = { store: { kind: 'cassandra' } };
    rejects(() => validateConfig(withOverride({ cluster: { enabled: true } })), 'cluster.enabled', /cassandra/);
    rejects(() => validateConfig(withOverride({ ...cass, cluster: { enabled: true, peer: { bind: 'nope' } } })), 'cluster.peer.bind', /host:port/);
    rejects(() => validateConfig(withOverride({ ...cass, cluster: { enabled: true, etcd: { prefix: 'sb' } } })), 'cluster.etcd.prefix');
    rejects(() => validateConfig(withOverride({ ...cass, cluster: { enabled: true, links: { heartbeatMs: 5000, deadAfterMs: 3000 } } })), 'cluster.links.heartbeatMs');
    rejects(() => validateConfig(withOverride({ ...cass, cluster: { shard: { count: 4 } } })), 'cluster.shard', /unknown key/);
    const ok = validateConfig(withOverride({ ...cass, media: { store: 's3' }, cluster: { enabled: true, etcd: { endpoints: ['http://10.0.0.1:2379'] }, peer: { bind: '0.0.0.0:7000', advertise: '10.0.0.5:7000' } } }));
    assert.equal(ok.cluster.peer.advertise, '10.0.0.5:7000');
    assert.equal(ok.cluster.shards.count, 256);
  });

  it('names a missing key', () => {
    const cfg = defaultConfig() as unknown as { limits: Record<string, unknown> };
    delete cfg.limits.heartbeatMs;
    rejects(() => validateConfig(cfg), 'limits.heartbeatMs', /required/);
  });

  it('checks auth keys', () => {
    const hs = (secret: string) => withOverride({ auth: { keys: [{ kid: 'k1', alg: 'HS256', secret }] } });
    validateConfig(hs('x'.repeat(32)));
    rejects(() => validateConfig(hs('x'.repeat(31))), 'auth.keys[0].secret', /32 bytes/);
    rejects(() => validateConfig(withOverride({ auth: { keys: [{ kid: 'k1', alg: 'RS256' }] } })), 'auth.keys[0].alg');
    rejects(() => validateConfig(withOverride({ auth: { keys: [{ kid: 'k1', alg: 'EdDSA', publicKeyPem: 'p', extra: 1 }] } })), 'auth.keys[0].extra', /unknown key/);
  });

  it('fills in an optional TLS passphrase', () => {
    const cfg = validateConfig(withOverride({ listen: { tls: { certFile: 'c.pem', keyFile: 'k.pem' } } }));
    assert.deepEqual(cfg.listen.tls, { certFile: 'c.pem', keyFile: 'k.pem', passphrase: '', watchDebounceMs: 1000 });
  });

  it('checks values against each other', () => {
    rejects(() => validateConfig(withOverride({ limits: { defaultSyncPage: 500, maxSyncPage: 100 } })), 'limits.defaultSyncPage', /maxSyncPage/);
    rejects(() => validateConfig(withOverride({ limits: { heartbeatMs: 60_000, idleTimeoutMs: 60_000 } })), 'limits.heartbeatMs', /idleTimeoutMs/);
    rejects(() => validateConfig(withOverride({ limits: { maxMessageBytes: 70_000, maxFrameBytes: 65_536 } })), 'limits.maxMessageBytes', /maxFrameBytes/);
  });
});

describe('send limits', () => {
  it('names a bad send limit key', () => {
    rejects(() => validateConfig(withOverride({ limits: { userSendRatePerSec: 0 } })), 'limits.userSendRatePerSec', /integer between 1/);
    rejects(() => validateConfig(withOverride({ limits: { userSendBurst: 2.5 } })), 'limits.userSendBurst');
    rejects(() => validateConfig(withOverride({ limits: { conversationSendBurst: '200' } })), 'limits.conversationSendBurst');
    rejects(() => validateConfig(withOverride({ limits: { sendLimitMaxEntries: 10 } })), 'limits.sendLimitMaxEntries', /1000/);
  });

  it('refuses a per-sender bucket larger than its conversation bucket (it could never bind)', () => {
    rejects(() => validateConfig(withOverride({ limits: { conversationSendRatePerSec: 1 } })), 'limits.conversationSenderRatePerSec', /conversationSendRatePerSec/);
    rejects(() => validateConfig(withOverride({ limits: { conversationSenderBurst: 500 } })), 'limits.conversationSenderBurst', /conversationSendBurst/);
  });

  it('maps the keys onto the limiter rules', () => {
    const l = validateConfig(withOverride({ limits: { userSendRatePerSec: 7, userSendBurst: 70, sendLimitMaxEntries: 5000 } })).limits;
    assert.deepEqual(sendLimitRules(l), {
      user: { ratePerSec: 7, burst: 70 },
      conversation: { ratePerSec: l.conversationSendRatePerSec, burst: l.conversationSendBurst },
      sender: { ratePerSec: l.conversationSenderRatePerSec, burst: l.conversationSenderBurst },
      maxEntries: 5000,
    });
  });

  it('defaults: the sender bucket is tighter than the conversation bucket, and half the user bucket still takes a 100-message share', () => {
    const l = defaultConfig().limits;
    assert.ok(l.conversationSenderRatePerSec < l.conversationSendRatePerSec);
    assert.ok(l.userSendBurst / 2 >= 100 && l.conversationSenderBurst >= 100);
  });
});

describe('writerOptions', () => {
  it('pipelines 4 commits on Cassandra and runs 1 at a time on SQLite unless told', () => {
    const store = defaultConfig().store;
    assert.equal(writerOptions({ ...store, kind: 'cassandra' }).concurrency, 4);
    assert.equal(writerOptions({ ...store, kind: 'sqlite' }).concurrency, 1);
    assert.equal(writerOptions({ ...store, kind: 'cassandra', batch: { ...store.batch, concurrency: 2 } }).concurrency, 2);
    rejects(() => validateConfig(withOverride({ store: { batch: { concurrency: 65 } } })), 'store.batch.concurrency');
  });
});

describe('merge', () => {
  it('merges objects deeply and replaces everything else', () => {
    const base = { a: { x: 1, y: [1, 2] }, b: 'keep', n: null as unknown };
    assert.deepEqual(merge(base, { a: { y: [3] }, n: { z: 1 } }), { a: { x: 1, y: [3] }, b: 'keep', n: { z: 1 } });
    assert.deepEqual(merge(base, { a: null }), { a: null, b: 'keep', n: null });
  });

  it('keeps new keys (so validation can reject them) and leaves its inputs alone', () => {
    const base = { a: { x: 1 } };
    const out = merge(base, { a: { typo: 2 } });
    assert.deepEqual(out, { a: { x: 1, typo: 2 } });
    assert.deepEqual(base, { a: { x: 1 } });
  });

  it('an undefined override keeps the base', () => {
    assert.equal(merge(5, undefined), 5);
  });
});

describe('parseArgs', () => {
  it('reads the known options', () => {
    assert.deepEqual(parseArgs(['--config', 'c.json', '--port', '9000', '--host', '0.0.0.0', '--data-dir', '/d', '--node-id', 'n2', '--shards', '4']), {
      config: 'c.json',
      port: 9000,
      host: '0.0.0.0',
      dataDir: '/d',
      nodeId: 'n2',
      shards: 4,
    });
  });

  it('names an unknown option and an option without its value', () => {
    rejects(() => parseArgs(['--prot', '9000']), '--prot', /unknown command-line option/);
    rejects(() => parseArgs(['--port']), '--port', /needs a value/);
  });
});

describe('loadConfig', () => {
  it('applies defaults, then the file, then the command line', () => {
    const p = file({ listen: { port: 7000, host: '0.0.0.0' }, limits: { sendBurst: 7 }, node: { id: 'from-file' } });
    const cfg = loadConfig(['--config', p, '--port', '7100', '--node-id', 'from-cli', '--data-dir', dir], {});
    assert.equal(cfg.listen.port, 7100);
    assert.equal(cfg.listen.host, '0.0.0.0', 'a CLI flag keeps the sibling keys of the file');
    assert.equal(cfg.node.id, 'from-cli');
    assert.equal(cfg.limits.sendBurst, 7);
    assert.equal(cfg.limits.sendRatePerSec, defaultConfig().limits.sendRatePerSec);
    assert.equal(cfg.node.dataDir, path.resolve(dir));
    assert.equal(cfg.store.sqlite.file, path.join(path.resolve(dir), 'switchboard.sqlite'));
  });

  it('takes the file from SWITCHBOARD_CONFIG when --config is absent', () => {
    const p = file({ shards: { count: 3 } });
    assert.equal(loadConfig([], { SWITCHBOARD_CONFIG: p }).shards.count, 3);
  });

  it('keeps an explicit sqlite file', () => {
    const p = file({ store: { sqlite: { file: '/tmp/x.sqlite' } } });
    assert.equal(loadConfig(['--config', p], {}).store.sqlite.file, '/tmp/x.sqlite');
  });

  it('names a bad value that came from the file or from the command line', () => {
    rejects(() => loadConfig(['--config', file({ limits: { idleTimeoutMs: 10 } })], {}), 'limits.idleTimeoutMs');
    rejects(() => loadConfig(['--config', file({ limts: {} })], {}), 'limts', /unknown key/);
    rejects(() => loadConfig(['--config', file({}), '--port', 'abc'], {}), 'listen.port');
    rejects(() => loadConfig(['--config', file({}), '--shards', '-1'], {}), 'shards.count');
  });

  it('reports an unreadable or invalid file under --config', () => {
    rejects(() => loadConfig(['--config', path.join(dir, 'missing.json')], {}), '--config', /cannot read/);
    rejects(() => loadConfig(['--config', file('{ not json')], {}), '--config', /cannot read/);
  });
});
