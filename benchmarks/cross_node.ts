/**
 * `bench cross-node`: what the cluster hop costs, on a 3-node cell (etcd, Cassandra,
 * haproxy; node/e2e/cluster_harness.ts) on this one machine.
 *
 * 1. 1:1 send -> deliver latency at one offered rate (open loop, measured from the
 *    scheduled send time: benchmarks/chat/open_loop.ts) for three placements of the
 *    sender, the recipient and the owner of the conversation's shard (read from etcd):
 *      same-node   sender, recipient and owner on one node: no hop;
 *      cross-node  sender on the owner, recipient on another node: one hop (fan-out);
 *      three-node  sender, owner and recipient on three different nodes: two hops
 *                  (the send forwarded to the owner, the message fanned out to the
 *                  recipient's node).
 *    Printed: p50 / p90 / p99 of each and the added latency of the hops.
 * 2. Group fan-out: a 1024-member group with members spread round-robin over the three
 *    nodes, the sender on node-1; messages one after another, each waiting until every
 *    member has it (as benchmarks/group_fanout.ts does on one node). Deliveries/s and
 *    the time until the last member has it (p50 / p99 / max).
 *
 *   npm run bench -- cross-node [--rate 300] [--duration 15] [--warmup 3] [--pairs 12] [--members 1024] [--messages 100] [--smoke]
 *
 * Cassandra: $SB_CASSANDRA_CONTACT (host:port) or a private one started for the run.
 * Everything (3 nodes, Cassandra, etcd, haproxy, the load generator) shares the box's
 * two cores: the figures are upper bounds, and the hop figure is the difference
 * between two runs at the same rate on the same box.
 */
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { bool, checkKnown, num, seconds, type Flags } from '../ops/lib/args.js';
import { BENCH_LIMITS, minter } from './lib/bench_node.js';
import { BenchConn } from './lib/bench_conn.js';
import { Latency, type LatencySummary } from './lib/latency.js';
import { fmt } from './lib/table.js';
import { startRun, finishRun } from './lib/run_output.js';
import { OpenLoopChat, type StepResult } from './chat/open_loop.js';
import type { Pair } from './chat/pairs.js';
import { ClusterCell } from '../node/e2e/cluster_harness.js';
import { getTestCassandra } from '../node/store/cassandra_test_env.js';

const FLAGS = ['rate', 'duration', 'rounds', 'warmup', 'pairs', 'members', 'messages', 'body-bytes', 'lease-ttl', 'skip-group', 'smoke', 'out'];

type Placement = 'same-node' | 'cross-node' | 'three-node';
const PLACEMENTS: Placement[] = ['same-node', 'cross-node', 'three-node'];
const NODES = 3;

export async function runCrossNode(flags: Flags, argv: string[]): Promise<string> {
  checkKnown(flags, FLAGS);
  const smoke = bool(flags, 'smoke');
  const cfg = {
    rate: num(flags, 'rate', smoke ? 100 : 300),
    durationSec: seconds(flags, 'duration', smoke ? 2 : 15),
    /**
     * Rounds over the placements, each in a rotated order (so no placement always runs
     * first, on a colder cell); each placement reports its median round by deliver p50.
     */
    rounds: num(flags, 'rounds', smoke ? 1 : 3),
    /** Discarded run on each placement's pairs first (connections, JIT, links warm). */
    warmupSec: seconds(flags, 'warmup', smoke ? 0 : 3),
    pairs: num(flags, 'pairs', smoke ? 3 : 12),
    members: num(flags, 'members', smoke ? 64 : 1024),
    messages: num(flags, 'messages', smoke ? 10 : 100),
    bodyBytes: num(flags, 'body-bytes', 100),
    leaseTtlSec: num(flags, 'lease-ttl', 5),
    skipGroup: bool(flags, 'skip-group'),
    nodes: NODES,
  };
  if (cfg.rate <= 0 || cfg.durationSec <= 0 || cfg.pairs < 1) throw new Error('--rate, --duration and --pairs must be positive');
  if (cfg.durationSec > 600) throw new Error('--duration is capped at 600 s');
  if (cfg.members < 2 || cfg.members > 1024) throw new Error('--members must be 2..1024 (limits.maxConversationMembers)');
  if (cfg.messages < 1 || cfg.messages > 10_000) throw new Error('--messages must be 1..10000');
  const { startedAt, machine } = startRun();
  console.log(`cross-node: ${NODES} nodes; 1:1 at ${cfg.rate} msg/s for ${cfg.durationSec} s per placement (${cfg.pairs} pairs each); group of ${cfg.members}, ${cfg.messages} messages`);

  const cass = await getTestCassandra();
  let cell: ClusterCell | null = null;
  const conns: BenchConn[] = [];
  const runs: Array<{ placement: Placement; hops: number; round: number; result: StepResult }> = [];
  let group: GroupResult | null = null;
  try {
    const t0 = performance.now();
    cell = await ClusterCell.start({
      nodes: NODES,
      cassandra: cass.contactPoint,
      leaseTtlSec: cfg.leaseTtlSec,
      shardCount: 64,
      config: { limits: { ...BENCH_LIMITS, maxConversationMembers: Math.max(1024, cfg.members) }, log: { level: 'warn' } },
    });
    console.log(`cell up in ${fmt((performance.now() - t0) / 1000)} s: ${NODES} nodes, etcd ${cell.etcd.endpoint}, haproxy ${cell.haproxy.url}, keyspace ${cell.keyspace}`);
    const token = minter(cell.secret);

    for (let round = 0; round < cfg.rounds; round++) for (const placement of [...PLACEMENTS.slice(round % 3), ...PLACEMENTS.slice(0, round % 3)]) {
      const tag = `x${randomBytes(3).toString('hex')}`;
      const pairs = await placePairs(cell, placement, cfg.pairs, tag, token, conns);
      console.log(`${placement}: ${pairs.length} pairs placed (${describe(pairs)})`);
      const chat = new OpenLoopChat(pairs.map((p) => p.pair), tag, cfg.bodyBytes);
      if (cfg.warmupSec > 0) {
        const w = await chat.run({ rate: cfg.rate, durationSec: cfg.warmupSec, drainMs: 3_000 });
        console.log(`  [${placement}] warm-up ${cfg.warmupSec} s: ${w.acked} acked, deliver p50 ${w.deliver.p50Ms} ms (discarded)`);
      }
      let prev = { sent: 0, acked: 0, delivered: 0 };
      const result = await chat.run({
        rate: cfg.rate,
        durationSec: cfg.durationSec,
        drainMs: 5_000,
        onSecond: (p) => {
          console.log(`  [${placement}] t=${String(p.tSec).padStart(3)}s  sent ${fmt(p.sent)} (+${fmt(p.sent - prev.sent)})  acked +${fmt(p.acked - prev.acked)}  delivered +${fmt(p.delivered - prev.delivered)}  errors ${p.errors}  inflight ${p.inflight}`);
          prev = p;
        },
      });
      runs.push({ placement, hops: PLACEMENTS.indexOf(placement), round, result });
      for (const p of pairs) {
        p.pair.sender.close();
        p.pair.recipient.close();
      }
      await new Promise((r) => setTimeout(r, 1_000));
    }

    if (!cfg.skipGroup) group = await groupFanout(cell, cfg.members, cfg.messages, token, conns);
  } finally {
    for (const c of conns) c.terminate();
    await cell?.stop();
    await cass.release();
  }
  // Per placement, its median round (by deliver p50).
  const placements = PLACEMENTS.flatMap((placement) => {
    const mine = runs.filter((r) => r.placement === placement).sort((a, b) => a.result.deliver.p50Ms - b.result.deliver.p50Ms);
    return mine.length ? [mine[Math.floor((mine.length - 1) / 2)]] : [];
  });
  const roundsSummary = runs.map((r) => ({ round: r.round, placement: r.placement, deliverP50Ms: r.result.deliver.p50Ms, deliverP99Ms: r.result.deliver.p99Ms, ackP50Ms: r.result.ack.p50Ms }));

  const base = placements.find((p) => p.placement === 'same-node')?.result.deliver;
  const rows = placements.map(({ placement, hops, result: r }) => [
    placement,
    hops,
    r.targetRate,
    r.acked,
    Math.round(r.durableRate),
    r.ack.p50Ms,
    r.ack.p99Ms,
    r.deliver.p50Ms,
    r.deliver.p90Ms,
    r.deliver.p99Ms,
    r.deliver.maxMs,
    base ? round(r.deliver.p50Ms - base.p50Ms) : '-',
    base ? round(r.deliver.p99Ms - base.p99Ms) : '-',
    Object.values(r.errors).reduce((a, b) => a + b, 0),
  ]);
  const hop = (name: Placement): { p50Ms: number; p90Ms: number; p99Ms: number } | null => {
    const r = placements.find((p) => p.placement === name)?.result.deliver;
    return r && base ? { p50Ms: round(r.p50Ms - base.p50Ms), p90Ms: round(r.p90Ms - base.p90Ms), p99Ms: round(r.p99Ms - base.p99Ms) } : null;
  };
  const notes = [
    ...placements.flatMap(({ placement, result: r }) => {
      const errs = Object.entries(r.errors);
      return errs.length ? [`${placement}: errors ${errs.map(([k, v]) => `${k}=${v}`).join(' ')}`] : [];
    }),
    hop('cross-node') ? `added by one cross-node hop (cross-node - same-node, send->deliver): p50 ${hop('cross-node')!.p50Ms} ms, p90 ${hop('cross-node')!.p90Ms} ms, p99 ${hop('cross-node')!.p99Ms} ms` : '',
    // same-node and cross-node acks take the same path (sender on the owner): a gap between their ack
    // p50s is the box, not the hop; deliver - ack p50 per placement takes that noise out.
    ...placements.map(({ placement, result: r }) => `${placement}: deliver p50 - ack p50 = ${round(r.deliver.p50Ms - r.ack.p50Ms)} ms`),
    hop('three-node') ? `added by forward + fan-out hops (three-node - same-node): p50 ${hop('three-node')!.p50Ms} ms, p90 ${hop('three-node')!.p90Ms} ms, p99 ${hop('three-node')!.p99Ms} ms` : '',
    group
      ? `group fan-out over ${NODES} nodes: ${fmt(group.deliveriesPerSec)} deliveries/s; last member has it p50 ${group.last.p50Ms} / p99 ${group.last.p99Ms} / max ${group.last.maxMs} ms (${group.completed}/${group.messages} messages reached every member)`
      : '',
    `load average at start ${machine.loadAvg1m}: 3 nodes, Cassandra, etcd, haproxy and the load generator share ${machine.cpus} cores`,
  ].filter(Boolean);
  return finishRun({
    scenario: 'cross-node',
    startedAt,
    machine,
    argv,
    flags,
    config: { ...cfg, encoding: 'proto', store: 'cassandra (CL ONE, one local node)', shardCount: 64, socketShardsPerNode: 1 },
    figures: {
      placements: placements.map(({ placement, hops, result }) => ({ placement, hops, ...result })),
      addedHop: { crossNode: hop('cross-node'), threeNode: hop('three-node') },
      deliverMinusAckP50Ms: Object.fromEntries(placements.map(({ placement, result: r }) => [placement, round(r.deliver.p50Ms - r.ack.p50Ms)])),
      rounds: roundsSummary,
      group,
    },
    tables: [
      {
        title: `1:1 at ${cfg.rate} msg/s, ${cfg.durationSec} s per placement (ms from the scheduled send time; "+" columns: added over same-node)`,
        header: ['placement', 'hops', 'target/s', 'acked', 'durable/s', 'ack p50', 'ack p99', 'deliver p50', 'p90', 'p99', 'max', '+p50', '+p99', 'errors'],
        rows,
      },
      ...(group
        ? [
            {
              title: `group fan-out: ${group.members} members over ${NODES} nodes, ${group.messages} messages one after another`,
              header: ['members', 'per node', 'messages', 'deliveries/s', 'last p50', 'last p90', 'last p99', 'last max', 'first p50', 'ack p50', 'incomplete'],
              rows: [[group.members, group.perNode.join('/'), group.messages, group.deliveriesPerSec, group.last.p50Ms, group.last.p90Ms, group.last.p99Ms, group.last.maxMs, group.first.p50Ms, group.ack.p50Ms, group.messages - group.completed]],
            },
          ]
        : []),
    ],
    charts: [
      {
        title: 'send -> deliver latency by percentile, per placement',
        xLabel: 'percentile',
        yLabel: 'ms',
        xKind: 'nines',
        logY: true,
        series: placements.map(({ placement, result }) => ({ label: placement, points: result.deliverCurve })),
      },
    ],
    notes,
  });
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

interface Placed {
  pair: Pair;
  senderNode: number;
  recipientNode: number;
  ownerNode: number;
}

function describe(ps: Placed[]): string {
  return ps.map((p) => `s${p.senderNode + 1}/o${p.ownerNode + 1}/r${p.recipientNode + 1}`).join(' ');
}

/** Open `n` conversations and connect their sender and recipient where `placement` says, relative to the owner. */
async function placePairs(cell: ClusterCell, placement: Placement, n: number, tag: string, token: (u: string, d: string) => Promise<string>, conns: BenchConn[]): Promise<Placed[]> {
  const out: Placed[] = [];
  for (let i = 0; i < n; i++) {
    const s = `${tag}-s${i}`;
    const r = `${tag}-r${i}`;
    // Open the conversation from any node; the owner is what etcd says.
    const setup = await BenchConn.connect({ url: cell.url(i % NODES), token: await token(s, 'setup') });
    const f = await setup.call({ kind: { case: 'openDirect', value: { peer: r } } });
    setup.close();
    if (f.kind.case !== 'directOpened') throw new Error(`open_direct answered with ${f.kind.case}: ${JSON.stringify(f.kind.value)}`);
    const conversation = f.kind.value.conversation;
    const ownerId = await cell.ownerOf(conversation);
    if (!ownerId) throw new Error(`no owner in etcd for ${conversation} (shard ${cell.shardOf(conversation)}): is the cluster wired?`);
    const o = cell.indexOf(ownerId);
    const other = (k: number): number => (o + k) % NODES;
    const [sn, rn] = placement === 'same-node' ? [o, o] : placement === 'cross-node' ? [o, other(1 + (i % 2))] : i % 2 ? [other(1), other(2)] : [other(2), other(1)];
    const [sender, recipient] = await Promise.all([
      BenchConn.connect({ url: cell.url(sn), token: await token(s, 'd1') }),
      BenchConn.connect({ url: cell.url(rn), token: await token(r, 'd1') }),
    ]);
    conns.push(sender, recipient);
    await Promise.all([sender.syncAll(), recipient.syncAll()]);
    out.push({ pair: { sender, recipient, conversation }, senderNode: sn, recipientNode: rn, ownerNode: o });
  }
  return out;
}

interface GroupResult {
  members: number;
  perNode: number[];
  messages: number;
  completed: number;
  deliveries: number;
  deliveriesPerSec: number;
  /** Send -> the last member has it. */
  last: LatencySummary;
  /** Send -> the first member has it. */
  first: LatencySummary;
  ack: LatencySummary;
  ownerNode: string | null;
}

async function groupFanout(cell: ClusterCell, members: number, messages: number, token: (u: string, d: string) => Promise<string>, conns: BenchConn[]): Promise<GroupResult> {
  const tag = `g${randomBytes(3).toString('hex')}`;
  const users = Array.from({ length: members - 1 }, (_, i) => `${tag}-m${i}`);
  const perNode = Array.from({ length: NODES }, () => 0);
  const admin = await BenchConn.connect({ url: cell.url(0), token: await token(`${tag}-admin`, 'd1') });
  conns.push(admin);
  perNode[0]++;
  await admin.syncAll();
  const arrivals = new Map<number, { n: number; first: number }>();
  const done = new Map<number, () => void>();
  const onMessage = (seq: number): void => {
    const a = arrivals.get(seq) ?? { n: 0, first: performance.now() };
    a.n++;
    arrivals.set(seq, a);
    if (a.n === users.length) done.get(seq)?.();
  };
  const t0 = performance.now();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < users.length) {
      const i = next++;
      const node = (i + 1) % NODES; // the admin is on node-1: members start on node-2
      const c = await BenchConn.connect({ url: cell.url(node), token: await token(users[i], 'd1'), timeoutMs: 30_000 });
      conns.push(c);
      perNode[node]++;
      await c.syncAll();
      c.onFrame = (f) => {
        if (f.kind.case === 'message') onMessage(Number(f.kind.value.seq));
      };
    }
  };
  await Promise.all(Array.from({ length: 32 }, lane));
  console.log(`group: ${members} members connected and synced in ${fmt((performance.now() - t0) / 1000)} s (per node ${perNode.join('/')})`);

  const created = await admin.call({ kind: { case: 'createGroup', value: { subject: 'bench', members: users } } }, 60_000);
  if (created.kind.case !== 'groupInfo') throw new Error(`create_group failed: ${created.kind.case} ${JSON.stringify(created.kind.value)}`);
  const conv = created.kind.value.conversation;
  const ownerNode = await cell.ownerOf(conv);
  await waitAll(1, users.length, arrivals, done, 30_000);
  console.log(`group ${conv} created (owner ${ownerNode}); every member has the creation message`);

  const last = new Latency();
  const first = new Latency();
  const ack = new Latency();
  let completed = 0;
  const start = performance.now();
  for (let k = 0; k < messages; k++) {
    const seq = k + 2;
    const sentAt = performance.now();
    const all = waitAll(seq, users.length, arrivals, done, 30_000);
    let ackError = '';
    const acked = admin.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: `${tag}-${k}`, body: `fan-out ${k}` } } }, 30_000).then(
      (f) => {
        if (f.kind.case === 'sendAck') ack.recordMs(performance.now() - sentAt);
        else ackError = `send answered ${f.kind.case}: ${JSON.stringify(f.kind.value)}`;
      },
      (e: Error) => void (ackError = e.message),
    );
    const ok = await all;
    await acked;
    if (ackError) throw new Error(`group message ${k}: ${ackError}`);
    if (!ok) {
      console.log(`  message ${k}: only ${arrivals.get(seq)?.n ?? 0} of ${users.length} members had it after 30 s`);
      continue;
    }
    completed++;
    last.recordMs(performance.now() - sentAt);
    first.recordMs(arrivals.get(seq)!.first - sentAt);
    if ((k + 1) % 20 === 0) console.log(`  ${k + 1}/${messages} messages; last member p50 so far ${last.summary().p50Ms} ms`);
  }
  const elapsed = (performance.now() - start) / 1000;
  const deliveries = [...arrivals].filter(([s]) => s >= 2).reduce((a, [, v]) => a + v.n, 0);
  return {
    members,
    perNode,
    messages,
    completed,
    deliveries,
    deliveriesPerSec: Math.round(deliveries / elapsed),
    last: last.summary(),
    first: first.summary(),
    ack: ack.summary(),
    ownerNode,
  };
}

function waitAll(seq: number, n: number, arrivals: Map<number, { n: number }>, done: Map<number, () => void>, timeoutMs: number): Promise<boolean> {
  if ((arrivals.get(seq)?.n ?? 0) >= n) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      done.delete(seq);
      resolve(false);
    }, timeoutMs);
    done.set(seq, () => {
      clearTimeout(t);
      done.delete(seq);
      resolve(true);
    });
  });
}
