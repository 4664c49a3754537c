/**
 * switchboardctl against a 3-node cell (node/e2e/cluster_harness.ts: real etcd,
 * Cassandra, node processes), always talking to node-1: `cluster` shows every shard's
 * owner and epoch as etcd has them; `sessions` and `kick` reach sockets held by the
 * other nodes (kick closes them there with 4409); `trace` names the owner and epoch
 * of a conversation; `drain node-3` drains that node through its membership httpUrl.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ClusterCell } from '../../node/e2e/cluster_harness.js';
import { openDirect, sleep } from '../../node/e2e/harness.js';
import { getTestCassandra, type TestCassandra } from '../../node/store/cassandra_test_env.js';
import { CLOSE_CODES } from '../../protocol/codes.js';
import { directConversationId } from '../../node/core/ids.js';

const CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const show = (r: Run): string => `exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;

describe('switchboardctl against a 3-node cell', { timeout: 300_000 }, () => {
  let cass: TestCassandra;
  let cell: ClusterCell;
  let ctl: (args: string[]) => Promise<Run>;

  before(
    async () => {
      cass = await getTestCassandra();
      cell = await ClusterCell.start({ nodes: 3, cassandra: cass.contactPoint, shardCount: 16 });
      ctl = (args) => {
        const env: NodeJS.ProcessEnv = { ...process.env, SWITCHBOARD_API_KEY: cell.apiKey };
        delete env.SWITCHBOARD_CONFIG;
        return new Promise((resolve) => {
          execFile(process.execPath, ['--import', TSX, CLI, '--url', cell.httpUrl(0), ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => {
            resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
          });
        });
      };
    },
    { timeout: 180_000 },
  );

  after(async () => {
    await cell?.stop();
    await cass?.release();
  });

  it('cluster: members, and every shard with its owner and fencing epoch as in etcd', async () => {
    const table = await cell.waitSettled();
    const r = await ctl(['--json', 'cluster']);
    assert.equal(r.code, 0, show(r));
    const s = JSON.parse(r.stdout);
    assert.deepEqual(s.members.map((m: { node: string }) => m.node), ['node-1', 'node-2', 'node-3']);
    assert.equal(s.owners.count, 16);
    assert.deepEqual(s.owners.unowned, []);
    const fromEtcd = [...table.owners].sort(([a], [b]) => a - b).map(([shard, o]) => ({ shard, node: o.node, epoch: o.token }));
    assert.deepEqual(s.owners.owned, fromEtcd);
    assert.deepEqual(new Set(fromEtcd.map((o) => o.node)), new Set(['node-1', 'node-2', 'node-3']), 'every node owns shards');
    assert.ok(s.owners.owned.every((o: { epoch: number }) => Number.isSafeInteger(o.epoch) && o.epoch > 0));
    const human = await ctl(['cluster']);
    assert.equal(human.code, 0, show(human));
    assert.match(human.stdout, /shard owners \(etcd revision \d+, 16 shards\):/);
    for (const n of ['node-1', 'node-2', 'node-3']) assert.match(human.stdout, new RegExp(`^${n} +[\\d, -]+ +\\d+ +\\d+\\.\\.\\d+$`, 'm'));
    assert.match(human.stdout, /unowned: none/);
  });

  it('sessions and kick reach the sockets other nodes hold; kick closes them there with 4409', async () => {
    const phone = await cell.online(1, 'kate', 'phone');
    const laptop = await cell.online(2, 'kate', 'laptop');
    const s = await ctl(['--json', 'sessions', 'kate']);
    assert.equal(s.code, 0, show(s));
    const sess = JSON.parse(s.stdout);
    assert.deepEqual(sess.sessions.map((x: { device: string; node: string }) => `${x.device}@${x.node}`).sort(), ['laptop@node-3', 'phone@node-2']);
    assert.equal(sess.nodes, 3);
    assert.deepEqual(sess.errors, []);

    const k = await ctl(['kick', 'kate', 'phone']);
    assert.equal(k.code, 0, show(k));
    assert.match(k.stdout, /kate\/phone: closed 1 connection with 4409 kicked/);
    assert.match(k.stdout, /phone +node-2/);
    assert.equal(await phone.waitClose(5_000), CLOSE_CODES.kicked.code);
    await sleep(300);
    assert.equal(laptop.closeCode, null, 'the laptop on node-3 stays');
    const all = await ctl(['--json', 'kick', 'kate']);
    assert.deepEqual(JSON.parse(all.stdout).kicked.map((x: { node: string; device: string }) => `${x.device}@${x.node}`), ['laptop@node-3']);
    assert.equal(await laptop.waitClose(5_000), 4409);
  });

  it('trace: the owner node and epoch of a conversation, where it is stored', async () => {
    const a = await cell.online(1, 'liam', 'phone');
    const conv = await openDirect(a, 'mona');
    const ack = await a.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'c-1', body: 'hi' } } });
    assert.equal(ack.kind.case, 'sendAck');
    const owner = await cell.ownerRecord(conv);
    assert.ok(owner);
    const r = await ctl(['--json', 'trace', conv, '--seq', '1']);
    assert.equal(r.code, 0, show(r));
    const t = JSON.parse(r.stdout);
    assert.deepEqual(t.owner, { shard: cell.shardOf(conv), node: owner.node, epoch: owner.token });
    assert.equal(t.message.message_id, (ack.kind.value as { messageId: string }).messageId);
    const h = await ctl(['trace', conv]);
    assert.match(h.stdout, new RegExp(`shard ${cell.shardOf(conv)} owned by ${owner.node} at epoch ${owner.token}`));
    a.close();
  });

  it('log-level debug on every node: one trace id from the sender\'s node (node-1) to the owner (node-3) to the recipient\'s node (node-2)', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await ctl(['--url', cell.httpUrl(i), 'log-level', 'debug']);
      assert.equal(r.code, 0, show(r));
    }
    await sleep(300);
    const from = [0, 1, 2].map((i) => cell.nodes[i]!.stderr.length);
    // A pair whose conversation is owned by neither endpoint's node: three nodes, three hops.
    let peer = '';
    for (let i = 0; !peer; i++) if ((await cell.ownerOf(directConversationId('olga', `pete${i}`))) === 'node-3') peer = `pete${i}`;
    const a = await cell.online(0, 'olga', 'phone');
    const b = await cell.online(1, peer, 'phone');
    const conv = await openDirect(a, peer);
    const ack = await a.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: 'tr-1', body: 'across' } } });
    assert.equal(ack.kind.case, 'sendAck');
    await b.waitFor((f) => f.kind.case === 'message');
    const owner = (await cell.ownerOf(conv))!;
    assert.equal(owner, 'node-3');
    const logOf = (i: number): Array<Record<string, unknown>> =>
      cell.nodes[i]!.stderr.slice(from[i]).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.conversation === conv);
    let found: Array<Record<string, unknown> | undefined> = [];
    const deadline = Date.now() + 10_000;
    for (;;) {
      const ownerIdx = Number(owner.slice('node-'.length)) - 1;
      found = [logOf(0).find((l) => l.evt === 'send.received'), logOf(ownerIdx).find((l) => l.evt === 'send.stored'), logOf(1).find((l) => l.evt === 'deliver.queued'), logOf(1).find((l) => l.evt === 'deliver.sent')];
      if (found.every(Boolean) || Date.now() > deadline) break;
      await sleep(100);
    }
    assert.ok(found.every(Boolean), `every stage logged (owner ${owner}): ${JSON.stringify(found)}`);
    assert.equal(new Set(found.map((l) => l!.trace)).size, 1, `one trace id: ${JSON.stringify(found)}`);
    assert.deepEqual(found.map((l) => l!.node), ['node-1', owner, 'node-2', 'node-2']);
    for (let i = 0; i < 3; i++) await ctl(['--url', cell.httpUrl(i), 'log-level', 'info']);
    a.close();
    b.close();
  });

  it('drain NODE: node-1 drains node-3 through its membership httpUrl; an unknown node is a 404', async () => {
    const unknown = await ctl(['drain', 'node-9']);
    assert.equal(unknown.code, 1, show(unknown));
    assert.match(unknown.stderr, /404 invalid_argument: node node-9 is not a live member of the cell \(members: node-1, node-2, node-3\)/);

    const victim = await cell.online(2, 'nina', 'phone');
    const r = await ctl(['--json', 'drain', 'node-3']);
    assert.equal(r.code, 0, show(r));
    assert.deepEqual(JSON.parse(r.stdout), { url: cell.httpUrl(2), status: 'draining', node: 'node-3' });
    const goaway = await victim.waitFor((f) => f.kind.case === 'goaway', 10_000);
    assert.equal(goaway.kind.case, 'goaway');
    const exit = await Promise.race([cell.nodes[2]!.exited, sleep(20_000).then(() => 'still running')]);
    assert.deepEqual(exit, { code: 0, signal: null });
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && (await cell.isMember('node-3'))) await sleep(200);
    assert.equal(await cell.isMember('node-3'), false, 'node-3 left the membership');
    const c = JSON.parse((await ctl(['--json', 'cluster'])).stdout);
    assert.deepEqual(c.members.map((m: { node: string }) => m.node), ['node-1', 'node-2']);
  });
});
