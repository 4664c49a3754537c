/**
 * TLS certificate reload (issue 18 item 4; node/host/tls_reload.ts): a real node on a
 * test-made certificate A; cert B written over the files and SIGHUP (or just written,
 * for the file watch): new connections present B (peer certificate fingerprint), a
 * socket opened on A still sends and receives; a broken pair is refused with a log
 * line naming the file, and new connections keep getting B.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { TestClient } from '../../protocol/client.js';
import { openDirect, sleep, syncAll, TestNode } from './harness.js';

interface Pair {
  cert: Buffer;
  key: Buffer;
  fingerprint: string;
}

function makePair(dir: string, name: string): Pair {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const c = readFileSync(cert);
  return { cert: c, key: readFileSync(key), fingerprint: new X509Certificate(c).fingerprint256 };
}

/** The fingerprint of the certificate a fresh TLS connection to the node is shown. */
function peerFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.destroy();
      resolve(fp);
    });
    s.once('error', reject);
  });
}

/** Several fresh connections (spread over the shards by SO_REUSEPORT): the fingerprints seen. */
async function fingerprints(port: number, n = 8): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) seen.add(await peerFingerprint(port));
  return seen;
}

async function waitForLog(node: TestNode, re: RegExp, from: number, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = node.stderr.slice(from).split('\n').find((l) => re.test(l));
    if (line) return line;
    if (Date.now() > deadline) throw new Error(`no log line matching ${re} in ${timeoutMs} ms; stderr since:\n${node.stderr.slice(from)}`);
    await sleep(25);
  }
}

/** a sends to b and b answers, both on sockets opened before the reload. */
async function stillTalk(a: TestClient, b: TestClient, conv: string, tag: string): Promise<void> {
  await a.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: `a-${tag}`, body: `from a ${tag}` } } });
  await b.waitFor((f) => f.kind.case === 'message' && f.kind.value.body === `from a ${tag}`);
  await b.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: `b-${tag}`, body: `from b ${tag}` } } });
  await a.waitFor((f) => f.kind.case === 'message' && f.kind.value.body === `from b ${tag}`);
}

/** Replace a file the way renewals do: write aside, rename over. */
function replace(file: string, bytes: Buffer | string): void {
  writeFileSync(file + '.new', bytes);
  renameSync(file + '.new', file);
}

function shardOf(c: TestClient): number {
  const w = c.frames.find((f) => f.kind.case === 'welcome');
  return w && w.kind.case === 'welcome' ? w.kind.value.shard : -1;
}

const BROKEN_CERT = '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n';

async function setUp(watchDebounceMs: number): Promise<{ dir: string; certFile: string; keyFile: string; A: Pair; B: Pair; C: Pair; node: TestNode }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-tlsr-'));
  const [A, B, C] = ['a', 'b', 'c'].map((n) => makePair(dir, n));
  const certFile = path.join(dir, 'live', 'cert.pem');
  const keyFile = path.join(dir, 'live', 'key.pem');
  mkdirSync(path.dirname(certFile));
  writeFileSync(certFile, A.cert);
  writeFileSync(keyFile, A.key);
  const node = await TestNode.start({ config: { shards: { count: 2 }, listen: { tls: { certFile, keyFile, watchDebounceMs } } } });
  return { dir, certFile, keyFile, A, B, C, node };
}

describe('tls reload', () => {
  it('SIGHUP: new connections get the new certificate, open sockets stay; a bad pair is refused and the current one stays', async () => {
    const { dir, certFile, keyFile, A, B, C, node } = await setUp(0);
    try {
      assert.deepEqual([...(await fingerprints(node.port))], [A.fingerprint], 'starts on A');
      const a = await node.connect('rl-a', 'phone', { ca: A.cert });
      const b = await node.connect('rl-b', 'phone', { ca: A.cert, encoding: 'proto' });
      const conv = await openDirect(a, 'rl-b');
      await syncAll(a);
      await syncAll(b);
      await stillTalk(a, b, conv, 'before');

      replace(certFile, B.cert);
      replace(keyFile, B.key);
      let from = node.stderr.length;
      node.proc.kill('SIGHUP');
      const ok = await waitForLog(node, /TLS certificate reloaded/, from);
      assert.match(ok, /"reason":"SIGHUP"/);
      assert.match(ok, new RegExp(`"fingerprint256":"${B.fingerprint}"`));
      assert.match(ok, /"shards":2,"failed":0/);
      assert.doesNotMatch(ok, /PRIVATE KEY/);
      assert.deepEqual([...(await fingerprints(node.port))], [B.fingerprint], 'every new connection gets B');
      await stillTalk(a, b, conv, 'after-b');
      // A client that trusts only B connects; one that trusts only A no longer does.
      const c = await node.connect('rl-c', 'laptop', { ca: B.cert });
      await assert.rejects(node.connect('rl-d', 'laptop', { ca: A.cert }), /self-signed|certificate/i);

      // A broken certificate: refused naming the file; B stays.
      replace(certFile, BROKEN_CERT);
      from = node.stderr.length;
      node.proc.kill('SIGHUP');
      const refused = await waitForLog(node, /TLS reload refused/, from);
      assert.ok(refused.includes(`TLS reload refused: ${certFile}: `), refused);
      assert.match(refused, /"level":"error"/);
      assert.deepEqual([...(await fingerprints(node.port))], [B.fingerprint], 'still B after the refusal');

      // A good certificate with the wrong key: refused naming both files; B stays.
      replace(certFile, C.cert);
      from = node.stderr.length;
      node.proc.kill('SIGHUP');
      const mismatch = await waitForLog(node, /TLS reload refused/, from);
      assert.ok(mismatch.includes(`${keyFile} and ${certFile}: the key does not match the certificate`), mismatch);
      assert.deepEqual([...(await fingerprints(node.port))], [B.fingerprint], 'still B after the mismatch');

      // The key arrives: C now.
      replace(keyFile, C.key);
      from = node.stderr.length;
      node.proc.kill('SIGHUP');
      await waitForLog(node, /TLS certificate reloaded/, from);
      assert.deepEqual([...(await fingerprints(node.port))], [C.fingerprint]);

      // Sockets from A's and B's days still work, and the node is up.
      await stillTalk(a, b, conv, 'after-c');
      await c.call({ kind: { case: 'listConversations', value: {} } });
      assert.equal(node.proc.exitCode, null);
      a.close();
      b.close();
      c.close();
    } finally {
      await node.stop();
      node.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('file change: a replaced pair is picked up without a signal; a broken one is refused', async () => {
    const { dir, certFile, keyFile, A, B, node } = await setUp(200);
    try {
      const a = await node.connect('fw-a', 'phone', { ca: A.cert });
      const b = await node.connect('fw-b', 'phone', { ca: A.cert });
      const conv = await openDirect(a, 'fw-b');
      await syncAll(a);
      await syncAll(b);

      let from = node.stderr.length;
      replace(certFile, B.cert);
      replace(keyFile, B.key);
      const ok = await waitForLog(node, /TLS certificate reloaded/, from);
      assert.match(ok, /"reason":"file change"/);
      assert.deepEqual([...(await fingerprints(node.port))], [B.fingerprint]);
      await stillTalk(a, b, conv, 'watched');
      // Exactly one reload for the two writes (debounced), none for the refused pair below.
      await sleep(500);
      assert.equal(node.stderr.slice(from).split('\n').filter((l) => /TLS certificate reloaded/.test(l)).length, 1);

      from = node.stderr.length;
      writeFileSync(certFile, BROKEN_CERT); // in place this time
      const refused = await waitForLog(node, /TLS reload refused/, from);
      assert.ok(refused.includes(`${certFile}: not a valid PEM certificate`), refused);
      assert.match(refused, /"reason":"file change"/);
      assert.deepEqual([...(await fingerprints(node.port))], [B.fingerprint]);
      await stillTalk(a, b, conv, 'after-refusal');
      a.close();
      b.close();
    } finally {
      await node.stop();
      node.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a shard restarted after a reload serves the last good certificate, not what the files hold now', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sb-tlsr-'));
    const [A, B] = ['a', 'b'].map((n) => makePair(dir, n));
    const certFile = path.join(dir, 'cert.pem');
    const keyFile = path.join(dir, 'key.pem');
    writeFileSync(certFile, A.cert);
    writeFileSync(keyFile, A.key);
    const node = await TestNode.start({
      config: { shards: { count: 2 }, listen: { tls: { certFile, keyFile, watchDebounceMs: 0 } } },
      env: { SWITCHBOARD_TEST_FAULT: 'crash_shard_on_body:CRASH' },
    });
    try {
      replace(certFile, B.cert);
      replace(keyFile, B.key);
      let from = node.stderr.length;
      node.proc.kill('SIGHUP');
      await waitForLog(node, /TLS certificate reloaded/, from);
      replace(certFile, BROKEN_CERT);
      from = node.stderr.length;
      node.proc.kill('SIGHUP');
      await waitForLog(node, /TLS reload refused/, from);

      const x = await node.connect('rs-x', 'phone', { ca: B.cert });
      const victim = shardOf(x);
      const conv = await openDirect(x, 'rs-y');
      await syncAll(x);
      x.send({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'boom', body: 'CRASH' } } });
      assert.equal(await x.waitClose(10_000), 4000, 'the shard crashed');
      // Only a client that trusts B gets in, so landing on the restarted shard proves it serves B.
      // (The restarted thread takes a moment to boot; until then the other shard takes everything.)
      let landed = false;
      for (let i = 0, deadline = Date.now() + 20_000; !landed && Date.now() < deadline; i++) {
        const c = await node.connect(`rs-${i}`, 'phone', { ca: B.cert }).catch(() => null);
        if (c) {
          landed = shardOf(c) === victim;
          c.close();
        }
        if (!landed) await sleep(50);
      }
      assert.ok(landed, 'a connection reached the restarted shard with certificate B');
      assert.deepEqual([...(await fingerprints(node.port))], [B.fingerprint]);
      assert.equal(node.proc.exitCode, null);
    } finally {
      await node.stop();
      node.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a bad pair at start stops the node naming the file', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sb-tlsr-'));
    const certFile = path.join(dir, 'cert.pem');
    writeFileSync(certFile, BROKEN_CERT);
    const keyFile = path.join(dir, 'key.pem');
    writeFileSync(keyFile, 'not a key');
    const dataDir = path.join(dir, 'data');
    mkdirSync(dataDir);
    try {
      await assert.rejects(TestNode.start({ dataDir, config: { listen: { tls: { certFile, keyFile } } } }), (e: Error) => {
        assert.match(e.message, /exited with 2/);
        assert.ok(e.message.includes(`bad configuration: listen.tls: ${certFile}: not a valid PEM certificate`), e.message);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
