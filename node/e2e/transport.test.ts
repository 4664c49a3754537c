/**
 * Transports and entry points: both encodings talking to each other, WSS with a
 * test-generated certificate, browser tickets, heartbeats and idle close, token
 * expiry, the HTTP API for app backends, and retention's resync_required.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TestClient } from '../../protocol/client.js';
import { CLOSE_CODES } from '../../protocol/codes.js';
import { messagesOf, show, sleep, syncAll, TestNode, openDirect } from './harness.js';
import { edKey } from '../auth/fixtures.js';
import { signToken } from '../auth/sign.js';

describe('transport', () => {
  let node: TestNode;
  before(async () => {
    node = await TestNode.start({ config: { limits: { idleTimeoutMs: 1500, heartbeatMs: 250 }, auth: { clockToleranceSec: 0 } } });
  });
  after(async () => {
    await node.stop();
    node.cleanup();
  });

  it('a protobuf client and a JSON client chat with each other', async () => {
    const p = await node.connect('enc-a', 'phone', { encoding: 'proto' });
    const j = await node.connect('enc-b', 'phone', { encoding: 'json' });
    const conv = await openDirect(p, 'enc-b');
    await syncAll(j);
    await syncAll(p);
    const a1 = await p.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'p1', body: 'from proto', meta: { kind: 'text' } } } });
    assert.equal(a1.kind.case, 'sendAck');
    const got = await j.waitFor((f) => f.kind.case === 'message');
    assert.equal(got.kind.case === 'message' && got.kind.value.body, 'from proto');
    assert.deepEqual(got.kind.case === 'message' && { ...got.kind.value.meta }, { kind: 'text' });
    await j.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'j1', body: 'from json ✓' } } });
    const back = await p.waitFor((f) => f.kind.case === 'message');
    assert.equal(back.kind.case === 'message' && back.kind.value.body, 'from json ✓');
    // The JSON encoding is plain text a person can type.
    const raw = await new Promise<string>((resolve) => {
      j.ws.once('message', (d: Buffer) => resolve(d.toString()));
      j.sendRaw(JSON.stringify({ req_id: 9, ping: { ts: 1 } }), false);
    });
    assert.match(raw, /"pong"/);
    assert.match(raw, /"req_id":\s*9/);
    p.close();
    j.close();
  });

  it('frames sent before the welcome are held until authentication finishes', async () => {
    const c = await TestClient.connect({ url: node.url, token: await node.token('early', 'phone') });
    c.send({ reqId: 5, kind: { case: 'ping', value: { ts: 42n } } });
    const pong = await c.reply(5);
    assert.equal(pong.kind.case, 'pong');
    assert.ok(c.frames.findIndex((f) => f.kind.case === 'welcome') < c.frames.indexOf(pong), 'welcome comes first');
    c.close();
  });

  it('a client offering only unknown subprotocols is refused with 400', async () => {
    await assert.rejects(TestClient.connect({ url: node.url, token: await node.token('x', 'y'), subprotocol: 'chat.v9' }), /400/);
  });

  it('a browser ticket is single-use', async () => {
    const tok = await node.token('tix', 'browser');
    const r = await node.api('POST', '/v1/tickets', undefined, tok);
    assert.equal(r.status, 201, show(r.body));
    const url = `${node.url}?ticket=${r.body.ticket}`;
    const c = await TestClient.connect({ url });
    const w = await c.waitFor((f) => f.kind.case === 'welcome' || f.kind.case === 'error');
    assert.equal(w.kind.case, 'welcome');
    assert.equal(w.kind.case === 'welcome' && w.kind.value.user, 'tix');
    const again = await TestClient.connect({ url });
    assert.equal(await again.waitClose(), CLOSE_CODES.unauthenticated.code);
    const bad = await node.api('POST', '/v1/tickets', undefined, 'garbage');
    assert.equal(bad.status, 401);
    assert.ok(!node.stderr.includes(r.body.ticket), 'tickets never reach the logs');
    c.close();
  });

  it('a silent client is closed with 4002; one answering pings stays', async () => {
    const quiet = await TestClient.connect({ url: node.url, token: await node.token('idle', 'a') });
    (quiet.ws as unknown as { _autoPong: boolean })._autoPong = false;
    const lively = await node.connect('idle', 'b');
    assert.equal(await quiet.waitClose(5000), CLOSE_CODES.idle_timeout.code);
    await sleep(500);
    assert.equal(lively.closeCode, null, 'pongs keep a connection alive');
    lively.close();
  });

  it('a token that expires while connected closes with 4402', async () => {
    const short = await node.token('exp', 'phone', 1);
    const c = await TestClient.connect({ url: node.url, token: short });
    await c.waitFor((f) => f.kind.case === 'welcome');
    assert.equal(await c.waitClose(5000), CLOSE_CODES.token_expired.code);
    assert.ok(c.frames.some((f) => f.kind.case === 'error' && f.kind.value.code === 'token_expired'));
  });

  it('the HTTP API sends on behalf of a user with the same dedup and order, and pages history', async () => {
    const bob = await node.connect('api-b', 'phone');
    const d = await node.api('POST', '/v1/conversations/direct', { users: ['api-a', 'api-b'] });
    assert.equal(d.status, 200, show(d.body));
    const conv = d.body.conversation;
    await syncAll(bob);
    const body = { conversation: conv, sender: 'api-a', client_msg_id: 'http-1', body: 'via http' };
    const r1 = await node.api('POST', '/v1/messages', body);
    assert.equal(r1.status, 201, show(r1.body));
    const r2 = await node.api('POST', '/v1/messages', body);
    assert.equal(r2.status, 200);
    assert.equal(r2.body.duplicate, true);
    assert.equal(r2.body.seq, r1.body.seq);
    const ws = await node.connect('api-a', 'phone');
    const wsAck = await ws.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'ws-2', body: 'via ws' } } });
    assert.equal(wsAck.kind.case === 'sendAck' && Number(wsAck.kind.value.seq), r1.body.seq + 1, 'one sequence for both entry points');
    await bob.waitFor(() => messagesOf(bob, conv).length === 2);
    assert.deepEqual(messagesOf(bob, conv).map((m) => m.body), ['via http', 'via ws']);
    const h = await node.api('GET', `/v1/conversations/${conv}/messages?limit=1`);
    assert.deepEqual([h.body.messages.map((m: { body: string }) => m.body), h.body.has_more], [['via ws'], true]);
    const h2 = await node.api('GET', `/v1/conversations/${conv}/messages?before=${h.body.messages[0].seq}`);
    assert.deepEqual(h2.body.messages.map((m: { body: string }) => m.body), ['via http']);
    // A seq past 2^53 - 1 would be rounded to a neighbour: refused instead, as on the socket.
    for (const q of ['before=9007199254740993', 'before=-1', 'before=1.5', 'limit=1e3']) {
      const bad = await node.api('GET', `/v1/conversations/${conv}/messages?${q}`);
      assert.deepEqual([bad.status, bad.body.code], [400, 'invalid_argument'], q);
    }
    assert.equal((await node.api('POST', '/v1/messages', body, 'wrong-key')).status, 401);
    assert.equal((await node.api('POST', '/v1/messages', { ...body, sender: 'api-c', client_msg_id: 'x' })).status, 404, 'not a member');
    assert.equal((await node.api('POST', '/v1/messages', { conversation: conv })).status, 400);
    ws.close();
    bob.close();
  });

  it('healthz and readyz answer', async () => {
    assert.equal((await node.api('GET', '/healthz', undefined, null)).status, 200);
    assert.equal((await node.api('GET', '/readyz', undefined, null)).status, 200);
  });
});

describe('asymmetric tokens', () => {
  it('EdDSA tokens are verified (in the task pool) and a forged one is refused with 4401', async () => {
    const ed = edKey('ed');
    const node = await TestNode.start({ config: { auth: { keys: [{ kid: 'ed', alg: 'EdDSA', publicKeyPem: ed.publicKeyPem }] } } });
    try {
      const good = await signToken({ user: 'ed-user', device: 'phone', ttlSec: 60 }, ed);
      const c = await TestClient.connect({ url: node.url, token: good });
      const w = await c.waitFor((f) => f.kind.case === 'welcome' || f.kind.case === 'error');
      assert.equal(w.kind.case === 'welcome' && w.kind.value.user, 'ed-user');
      const other = edKey('ed');
      const forged = await signToken({ user: 'ed-user', device: 'phone', ttlSec: 60 }, other);
      const f = await TestClient.connect({ url: node.url, token: forged });
      assert.equal(await f.waitClose(), CLOSE_CODES.unauthenticated.code);
      c.close();
    } finally {
      await node.stop();
      node.cleanup();
    }
  });
});

describe('retention', () => {
  it('a cursor older than what the server keeps gets resync_required, never a silent gap', async () => {
    const node = await TestNode.start({ config: { store: { retentionMessages: 10 } } });
    try {
      const a = await node.connect('ret-a', 'phone');
      const conv = await openDirect(a, 'ret-b');
      for (let i = 1; i <= 30; i++) {
        const f = await a.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: `r${i}`, body: `m${i}` } } });
        assert.equal(f.kind.case, 'sendAck');
      }
      const b = await node.connect('ret-b', 'phone');
      const page = await b.call({ kind: { case: 'sync', value: { cursors: [{ conversation: conv, seq: 2n }] } } });
      assert.equal(page.kind.case, 'syncPage');
      if (page.kind.case !== 'syncPage') return;
      const cs = page.kind.value.conversations.find((c) => c.conversation === conv)!;
      assert.equal(cs.resyncRequired, true);
      const first = Number(cs.firstSeq);
      assert.ok(first > 3 && first <= 21, `first kept seq ${first}`);
      assert.deepEqual(page.kind.value.messages.map((m) => Number(m.seq)), Array.from({ length: 30 - first + 1 }, (_, i) => first + i), 'the page restarts at first_seq');
      b.close();
      a.close();
    } finally {
      await node.stop();
      node.cleanup();
    }
  });
});

describe('wss', () => {
  it('serves WSS with a configured certificate', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sb-tls-'));
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const node = await TestNode.start({ config: { listen: { tls: { certFile: cert, keyFile: key } } } });
    try {
      assert.match(node.url, /^wss:\/\//);
      const ca = readFileSync(cert);
      const a = await node.connect('tls-a', 'phone', { ca });
      const b = await node.connect('tls-b', 'phone', { ca, encoding: 'proto' });
      const conv = await openDirect(a, 'tls-b');
      await syncAll(b);
      await a.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 't1', body: 'encrypted hello' } } });
      const m = await b.waitFor((f) => f.kind.case === 'message');
      assert.equal(m.kind.case === 'message' && m.kind.value.body, 'encrypted hello');
      await assert.rejects(TestClient.connect({ url: node.url, token: await node.token('tls-c', 'x') }), /self-signed|certificate/i);
      a.close();
      b.close();
    } finally {
      await node.stop();
      node.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
