/**
 * switchboardctl's admin commands against one real node (node/e2e/harness.ts): status
 * with per-shard connections, connections, sessions, kick (close code 4409), trace,
 * log-level and the trace id at debug, and what the node logs about it all: an audit
 * line per admin call that names the key by hash prefix, and no key, token or body.
 * Run as a subprocess, as an operator runs it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestNode, openDirect, sleep, syncAll } from '../../node/e2e/harness.js';
import type { TestClient } from '../../protocol/client.js';
import { CLOSE_CODES } from '../../protocol/codes.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = path.join(ROOT, 'ops/ctl/cli.ts');
const TSX = import.meta.resolve('tsx');
const dir = mkdtempSync(path.join(tmpdir(), 'sb-ctl-admin-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function ctl(args: string[], env: Record<string, string>): Promise<Run> {
  const base = { ...process.env };
  delete base.SWITCHBOARD_API_KEY;
  delete base.SWITCHBOARD_CONFIG;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', TSX, CLI, ...args], { cwd: dir, env: { ...base, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

const show = (r: Run): string => `exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;

/** The node's log lines (JSON) since `from` characters of its stderr. */
function lines(node: TestNode, from = 0): Array<Record<string, unknown>> {
  return node.stderr
    .slice(from)
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function waitUntil<T>(f: () => Promise<T | null>, what: string, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(100);
  }
}

describe('switchboardctl admin commands against a running node', () => {
  let node: TestNode;
  let env: Record<string, string>;
  let url: string[];
  const clients: TestClient[] = [];
  before(async () => {
    node = await TestNode.start({ config: { shards: { count: 2 }, tasks: { threads: 1 } } });
    env = { SWITCHBOARD_API_KEY: node.apiKey };
    url = ['--url', node.httpUrl];
  });
  after(async () => {
    for (const c of clients) c.close();
    await node.stop();
    node.cleanup();
  });

  const connect = async (user: string, device: string): Promise<TestClient> => {
    const c = await node.connect(user, device);
    clients.push(c);
    // Live deliveries start after the client's first sync (PROTOCOL.md §6.1).
    await syncAll(c);
    return c;
  };

  it('status, connections and sessions count the sockets the node holds, per shard', async () => {
    const a1 = await connect('alice', 'phone');
    await connect('alice', 'laptop');
    await connect('carol', 'phone');
    const st = await ctl([...url, '--json', 'status'], env);
    assert.equal(st.code, 0, show(st));
    const s = JSON.parse(st.stdout);
    assert.equal(s.node, 'test-node');
    assert.equal(s.ready, true);
    assert.equal(s.connections, 3);
    assert.deepEqual(s.shards.map((x: { shard: number }) => x.shard), [0, 1]);
    assert.equal(s.shards.reduce((n: number, x: { connections: number }) => n + x.connections, 0), 3);
    assert.ok(s.shards.every((x: { up: boolean; in_flight_ops: number }) => x.up && x.in_flight_ops === 0), st.stdout);
    assert.equal(s.store.kind, 'sqlite');
    assert.equal(typeof s.store.queue_depth, 'number');
    const ids = s.tree.children.map((c: { id: string }) => c.id);
    for (const id of ['store', 'chat', 'tasks', 'shards']) assert.ok(ids.includes(id), `${id} in ${ids.join(', ')}`);
    const shardsSup = s.tree.children.find((c: { id: string }) => c.id === 'shards');
    assert.deepEqual(shardsSup.children.map((c: { id: string; state: string }) => `${c.id} ${c.state}`), ['shard-0 running', 'shard-1 running']);

    const human = await ctl([...url, 'status'], env);
    assert.equal(human.code, 0, show(human));
    assert.match(human.stdout, /SHARD {2}THREAD {2}CONNECTIONS {2}OPS IN FLIGHT/);
    assert.match(human.stdout, /3 connections; store \(sqlite\): \d+ ops queued/);

    const c = await ctl([...url, '--json', 'connections'], env);
    assert.equal(c.code, 0, show(c));
    const conns = JSON.parse(c.stdout);
    assert.equal(conns.total, 3);
    assert.equal(conns.users, 2);
    assert.deepEqual(conns.shards, s.shards.map((x: { shard: number; connections: number }) => ({ shard: x.shard, connections: x.connections })));
    const ch = await ctl([...url, 'connections'], env);
    assert.match(ch.stdout, /test-node: 3 connections of 2 users/);

    const ss = await ctl([...url, '--json', 'sessions', 'alice'], env);
    assert.equal(ss.code, 0, show(ss));
    const sess = JSON.parse(ss.stdout);
    assert.deepEqual(sess.sessions.map((x: { device: string; node: string }) => `${x.device}@${x.node}`), ['laptop@test-node', 'phone@test-node']);
    for (const x of sess.sessions) assert.ok(Date.now() - Date.parse(x.since) < 60_000, `since ${x.since}`);
    assert.deepEqual(sess.errors, []);
    const sh = await ctl([...url, 'sessions', 'alice'], env);
    assert.match(sh.stdout, /^DEVICE +NODE +SHARD +CONN +SINCE\nlaptop +test-node +\d +\d+ +\d{4}-/);
    const none = await ctl([...url, 'sessions', 'nobody'], env);
    assert.equal(none.code, 0, show(none));
    assert.match(none.stdout, /nobody: no open connection/);
    const bad = await ctl([...url, 'sessions', 'a b'], env);
    assert.equal(bad.code, 1, show(bad));
    assert.match(bad.stderr, /400 invalid_argument: user: must be an id/);
    void a1;
  });

  it('kick USER DEVICE closes that device with 4409 kicked; the other device stays; kick USER closes the rest', async () => {
    const phone = await connect('dave', 'phone');
    const laptop = await connect('dave', 'laptop');
    const k = await ctl([...url, 'kick', 'dave', 'phone'], env);
    assert.equal(k.code, 0, show(k));
    assert.match(k.stdout, /dave\/phone: closed 1 connection with 4409 kicked/);
    assert.equal(await phone.waitClose(5_000), CLOSE_CODES.kicked.code);
    assert.equal(CLOSE_CODES.kicked.reconnect, false);
    // The laptop is still served.
    const pong = await laptop.call({ kind: { case: 'openDirect', value: { peer: 'erin' } } });
    assert.equal(pong.kind.case, 'directOpened');
    const left = await waitUntil(async () => {
      const r = JSON.parse((await ctl([...url, '--json', 'sessions', 'dave'], env)).stdout);
      return r.sessions.length === 1 ? r : null;
    }, 'the kicked socket leaves the registry');
    assert.equal(left.sessions[0].device, 'laptop');

    const all = await ctl([...url, '--json', 'kick', 'dave'], env);
    assert.equal(all.code, 0, show(all));
    const j = JSON.parse(all.stdout);
    assert.equal(j.close_code, 4409);
    assert.deepEqual(j.kicked.map((x: { device: string }) => x.device), ['laptop']);
    assert.equal(await laptop.waitClose(5_000), 4409);
    const again = await ctl([...url, 'kick', 'dave'], env);
    assert.match(again.stdout, /dave: no open connection to close/);
    const usage = await ctl([...url, 'kick'], env);
    assert.equal(usage.code, 2, show(usage));
  });

  it('trace: a stored message, which devices have it, receipts; and its conversation', async () => {
    const sender = await connect('frank', 'phone');
    const rcpt = await connect('gina', 'tablet');
    const conv = await openDirect(sender, 'gina');
    const ack = await sender.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'trace-1', body: 'hello gina' } } });
    assert.equal(ack.kind.case, 'sendAck');
    const seq = Number((ack.kind.value as { seq: bigint }).seq);
    const messageId = (ack.kind.value as { messageId: string }).messageId;
    await rcpt.waitFor((f) => f.kind.case === 'message');
    // Receipts have no reply on success (PROTOCOL.md §5.3).
    rcpt.send({ kind: { case: 'ack', value: { conversation: conv, seq: BigInt(seq) } } });

    const t = await waitUntil(async () => {
      const r = await ctl([...url, '--json', 'trace', conv, '--seq', String(seq)], env);
      assert.equal(r.code, 0, show(r));
      const j = JSON.parse(r.stdout);
      return j.receipts.delivered_to.includes('gina') ? j : null;
    }, 'gina\'s delivered cursor is stored');
    assert.equal(t.message.message_id, messageId);
    assert.equal(t.message.sender, 'frank');
    assert.equal(t.message.client_msg_id, 'trace-1');
    assert.equal(t.message.body_bytes, Buffer.byteLength('hello gina'));
    assert.ok(!JSON.stringify(t).includes('hello gina'), 'trace shows no message body');
    assert.deepEqual(t.owner, { shard: null, node: 'test-node', epoch: null });
    const gina = t.devices.find((d: { user: string }) => d.user === 'gina');
    assert.deepEqual([gina.device, gina.delivered, gina.read], ['tablet', true, false]);
    assert.deepEqual(t.receipts.read_by, []);

    rcpt.send({ kind: { case: 'read', value: { conversation: conv, seq: BigInt(seq) } } });
    const byId = await waitUntil(async () => {
      const j = JSON.parse((await ctl([...url, '--json', 'trace', conv, '--message', messageId], env)).stdout);
      return j.receipts?.read_by.includes('gina') ? j : null;
    }, 'the read cursor is stored');
    assert.equal(byId.message.seq, seq);
    const human = await ctl([...url, 'trace', conv, '--seq', String(seq)], env);
    assert.match(human.stdout, new RegExp(`stored: ${conv} seq ${seq}, message ${messageId}, from frank/phone`));
    assert.match(human.stdout, /receipts: delivered to gina; read by gina/);

    const c = await ctl([...url, '--json', 'trace', conv], env);
    assert.equal(c.code, 0, show(c));
    const ct = JSON.parse(c.stdout);
    assert.equal(ct.last_seq, seq);
    assert.deepEqual(ct.members.map((m: { user: string }) => m.user).sort(), ['frank', 'gina']);
    assert.equal(ct.owner.node, 'test-node');

    const missing = await ctl([...url, 'trace', conv, '--seq', String(seq + 100)], env);
    assert.equal(missing.code, 1, show(missing));
    assert.match(missing.stderr, /404 invalid_argument: no message at seq/);
    const noConv = await ctl([...url, 'trace', 'd_nope'], env);
    assert.equal(noConv.code, 1, show(noConv));
    assert.match(noConv.stderr, /404 invalid_argument: no conversation d_nope/);
    const both = await ctl([...url, 'trace', conv, '--seq', '1', '--message', messageId], env);
    assert.equal(both.code, 2, show(both));
  });

  it('log-level: debug at run time shows one trace id from socket to store to recipient; back to info, quiet again', async () => {
    const r0 = await ctl([...url, 'log-level'], env);
    assert.equal(r0.stdout.trim(), 'info');
    const from = node.stderr.length;
    const set = await ctl([...url, 'log-level', 'debug'], env);
    assert.equal(set.code, 0, show(set));
    assert.match(set.stdout, /log level info -> debug/);
    // The shards switch by message: give them a moment.
    await sleep(200);
    const a = await connect('hank', 'phone');
    const b = await connect('ivy', 'phone');
    const conv = await openDirect(a, 'ivy');
    const ack = await a.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'dbg-1', body: 'top secret body' } } });
    assert.equal(ack.kind.case, 'sendAck');
    await b.waitFor((f) => f.kind.case === 'message');
    const debug = await waitUntil(async () => {
      const ls = lines(node, from).filter((l) => l.level === 'debug');
      return ls.some((l) => l.evt === 'deliver.sent') ? ls : null;
    }, 'debug lines of the send');
    const stages = ['send.received', 'send.stored', 'deliver.queued', 'deliver.sent'];
    const byStage = stages.map((e) => debug.find((l) => l.evt === e && l.conversation === conv));
    assert.ok(byStage.every(Boolean), `every stage logged:\n${JSON.stringify(debug, null, 1)}`);
    const traces = new Set(byStage.map((l) => l!.trace));
    assert.equal(traces.size, 1, `one trace id: ${[...traces].join(', ')}`);
    assert.equal(typeof byStage[0]!.shard, 'number', 'the received line comes from a shard thread');
    assert.equal(byStage[1]!.msg_id, (ack.kind.value as { messageId: string }).messageId);
    assert.ok(!node.stderr.includes('top secret body'), 'the body is not logged');

    const back = await ctl([...url, '--json', 'log-level', 'info'], env);
    assert.deepEqual(JSON.parse(back.stdout), { previous: 'debug', level: 'info' });
    await sleep(200);
    const quietFrom = node.stderr.length;
    await a.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'dbg-2', body: 'x' } } });
    await sleep(300);
    assert.deepEqual(lines(node, quietFrom).filter((l) => l.level === 'debug'), []);
    const bad = await ctl([...url, 'log-level', 'verbose'], env);
    assert.equal(bad.code, 2, show(bad));
    const raw = await node.api('POST', '/admin/log-level', { level: 'trace' });
    assert.equal(raw.status, 400);
    assert.equal(raw.body.code, 'invalid_argument');
  });

  it('every admin call is audited: who (key hash prefix), what, result; never the key', async () => {
    const from = node.stderr.length;
    await ctl([...url, 'connections'], env);
    const wrong = 'w'.repeat(30);
    const denied = await ctl([...url, 'connections'], { SWITCHBOARD_API_KEY: wrong });
    assert.equal(denied.code, 1, show(denied));
    const audit = await waitUntil(async () => {
      const ls = lines(node, from).filter((l) => typeof l.evt === 'string' && (l.evt as string).startsWith('admin.'));
      return ls.length >= 2 ? ls : null;
    }, 'audit lines');
    const ok = audit.find((l) => l.evt === 'admin.call' && l.path === '/admin/connections')!;
    assert.ok(ok, JSON.stringify(audit));
    assert.deepEqual([ok.method, ok.status, ok.level], ['GET', 200, 'info']);
    assert.match(ok.key as string, /^sha256:[0-9a-f]{8}$/);
    const no = audit.find((l) => l.evt === 'admin.denied')!;
    assert.deepEqual([no.status, no.level], [401, 'warn']);
    assert.notEqual(no.key, ok.key);
    for (const secret of [node.apiKey, wrong, node.secret]) assert.ok(!node.stderr.includes(secret), 'a key or secret is in the node log');
  });
});
