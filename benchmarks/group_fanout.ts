/**
 * Group fan-out on one node: a 1024-member group, messages from its creator, and how
 * fast the node hands each one to every member: deliveries per second and the time
 * until the LAST member has a message (p50 / p90 / p99 / max).
 *
 *   node --import tsx benchmarks/group_fanout.ts [--members 1024] [--messages 200]        closed loop
 *   node --import tsx benchmarks/group_fanout.ts --rate 100 --duration 10 [--members 1024]  open loop
 *   node --import tsx benchmarks/group_fanout.ts --rates 50,100,200 --duration 10           one open-loop step per rate
 *   node --import tsx benchmarks/group_fanout.ts --smoke                                    64 members, 1 s at 20 msg/s
 *
 * Closed loop (no --rate/--rates): each message is sent when every member has the
 * previous one: per-message latency, never queueing. Open loop: message i of a step is
 * due at t0 + i/rate and its latencies count from that intended time (no coordinated
 * omission, as chat/fast_loop.ts); a message not at every member by the end of the
 * drain is lost. Per step: deliveries/s (deliveries / wall time from the first due send
 * to the last completion, or to the end of the drain), time to the last (and first)
 * member, send->ack, errors by code, node CPU per delivery per thread role (/proc, the
 * thread probe), this client's CPU per delivery, and the node main loop's delay.
 *
 * One process: the sender (the admin, one FastWs writing prepared frames) and every
 * member (FastWs, frames peeked, not decoded: chat/fan_receivers.ts). The client's CPU
 * per delivery is reported so it can be compared with the node's. Results go to
 * results/<time>-group-fanout/ (result.json, report.html), or under --out.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { parseFlags, checkKnown, num, bool, str, seconds } from '../ops/lib/args.js';
import { machineInfo } from '../ops/lib/results.js';
import { startBenchNode, minter } from './lib/bench_node.js';
import { NodeProbe } from './lib/node_probe.js';
import { StepMeter, type StepCost } from './lib/step_meter.js';
import { fmt, table } from './lib/table.js';
import { FanReceivers, openMembers } from './chat/fan_receivers.js';
import { driveFanStep, fanStepFigures, load1, FanSender, type FanStepFigures } from './chat/fan_arrivals.js';
import { FAN_HEADER_HEAD, FAN_HEADER_TAIL, fanRowHead, fanRowTail, writeFanResult } from './chat/fan_report.js';
import { setupConn, syncAll } from './chat/setup_conn.js';
import { peek, sendTemplate, writeId, errorCode, KIND_SEND_ACK, KIND_ERROR, STEP_SPAN } from './chat/chat_frames.js';

const FLAGS = ['members', 'messages', 'rate', 'rates', 'duration', 'drain', 'body-bytes', 'shards', 'smoke', 'out'];
const flags = parseFlags(process.argv.slice(2));
checkKnown(flags, FLAGS);
const smoke = bool(flags, 'smoke');
const cfg = {
  // 1024: the product's group size limit, the case this bench exists for (64 in --smoke: seconds to set up).
  members: num(flags, 'members', smoke ? 64 : 1024),
  // Closed loop: 200 messages one after another, enough for a stable p99 of a per-message latency.
  messages: num(flags, 'messages', 200),
  // Open loop: --rates wins over --rate; neither means closed loop (--smoke: one 20 msg/s step).
  rates: str(flags, 'rates', '').split(',').filter(Boolean).map(Number),
  durationSec: seconds(flags, 'duration', smoke ? 1 : 10),
  // 5 s after the last due send for every member to have every message: a "short drain"; later is lost.
  drainMs: num(flags, 'drain', smoke ? 2 : 5) * 1000,
  // 100 bytes: a typical chat text.
  bodyBytes: num(flags, 'body-bytes', 100),
  // Socket shards of the node; unset: the node's default (shards.count 0).
  shards: flags.has('shards') ? num(flags, 'shards', 1) : undefined,
};
if (!cfg.rates.length && flags.has('rate')) cfg.rates = [num(flags, 'rate', 0)];
if (!cfg.rates.length && smoke) cfg.rates = [20];
if (cfg.rates.some((r) => !(r > 0)) || cfg.members < 2 || cfg.durationSec <= 0 || cfg.messages < 1) throw new Error('--rate(s), --duration, --messages must be positive and --members >= 2');
// Every loop is bounded: at most ten minutes of sending per step.
if (cfg.durationSec > 600) throw new Error('--duration is capped at 600 s');
const closedLoop = cfg.rates.length === 0;

interface StepRow extends FanStepFigures<number | null> {
  mode: 'closed' | 'open';
  cost: StepCost;
  nodeUsPerMessage: number;
}

const startedAt = new Date();
const machine = machineInfo();
console.log(`group fan-out: ${cfg.members} members (${cfg.members - 1} receiving), ${closedLoop ? `closed loop, ${cfg.messages} messages` : `open loop, ${cfg.rates.join(', ')} msg/s for ${cfg.durationSec} s each`}`);
console.log(`machine: ${machine.cpus} x ${machine.cpuModel}, node ${machine.node}, load ${machine.loadAvg1m} (other work on the box makes figures noisy)`);

const probe = new NodeProbe();
// The node's send limits are lifted (BENCH_LIMITS) so they refuse none of the load.
const node = await startBenchNode({ env: probe.env(), shards: cfg.shards });
const steps: StepRow[] = [];
let rx: FanReceivers | null = null;
let adminWs: { close(): void } | null = null;
try {
  const tag = `g${randomBytes(3).toString('hex')}`;
  const token = minter(node.secret);
  const users = Array.from({ length: cfg.members - 1 }, (_, i) => `${tag}-m${i}`);
  const tSetup = performance.now();
  const admin = await setupConn(node.url, await token(`${tag}-admin`, 'd1'));
  adminWs = admin.ws;
  await syncAll(admin.call);
  const members = new FanReceivers(await openMembers(node.url, users, token));
  rx = members;
  const created = await admin.call({ kind: { case: 'createGroup', value: { subject: 'bench', members: users } } });
  if (created.kind.case !== 'groupInfo') throw new Error(`create_group failed: ${created.kind.case} ${JSON.stringify(created.kind.value)}`);
  const tpl = sendTemplate(created.kind.value.conversation, 'x'.repeat(cfg.bodyBytes));
  for (let t = 0; members.setupMessages < members.size; t += 10) {
    if (t > 30_000) throw new Error(`only ${members.setupMessages} of ${members.size} members had the group's creation message after 30 s`);
    await sleep(10);
  }
  console.log(`${cfg.members} members connected, synced and in the group in ${fmt((performance.now() - tSetup) / 1000)} s`);

  // The sender's side: send_acks peeked, errors decoded (rare).
  const acks = new FanSender(members);
  admin.ws.onMessage = (buf, s, e) => {
    const f = peek(buf, s, e);
    if (f.kind === KIND_ERROR) return members.count(errorCode(buf, s, e));
    if (f.kind === KIND_SEND_ACK) acks.acknowledged(f.id); // not its own message echoed, receipts
  };
  const send = (from: number, to: number, now: number): void => {
    const len = tpl.frame.length;
    const out = Buffer.allocUnsafe(len * (to - from));
    for (let i = from; i < to; i++) {
      tpl.frame.copy(out, (i - from) * len);
      writeId(out, (i - from) * len + tpl.idAt, acks.base + i);
    }
    acks.sending(from, to, now);
    if (admin.ws.open) admin.ws.writeRaw(out);
    else members.count('sender_not_open', to - from);
  };
  const meter = new StepMeter(node.proc.pid!, node.httpUrl, probe, false);

  const runStep = async (stepNo: number, rate: number | null): Promise<StepRow> => {
    const total = rate === null ? cfg.messages : Math.max(1, Math.round(rate * cfg.durationSec));
    members.begin(stepNo, total);
    await meter.begin();
    const t0 = performance.now() + 5;
    acks.begin(stepNo * STEP_SPAN, total, t0);
    members.lastCompleteAt = t0;
    const sent = await driveFanStep(members, { stepNo, rate, total, t0, drainMs: cfg.drainMs, acked: () => acks.count, send });
    const { deliveries, lost, fewestMembers, wallSec } = acks.end(sent, t0);
    const cost = await meter.end(deliveries, deliveries); // per delivery: node and client alike
    return {
      mode: rate === null ? 'closed' : 'open',
      ...fanStepFigures(members, { rate, sent, acked: acks.count, lost, fewestMembers, deliveries, wallSec, ack: acks.ack, lag: acks.lag }),
      cost,
      nodeUsPerMessage: Math.round((cost.nodeUsPerMsg * deliveries) / Math.max(1, sent)),
    };
  };

  const plan = closedLoop ? [null] : cfg.rates;
  for (const [k, rate] of plan.entries()) {
    console.log(`step ${k + 1}/${plan.length}: ${rate === null ? `closed loop, ${cfg.messages} messages` : `${fmt(rate)} msg/s for ${cfg.durationSec} s`}${rate === null ? '' : ` (${fmt(rate * users.length)} deliveries/s offered)`}; load ${load1()}`);
    const r = await runStep(k + 1, rate);
    steps.push(r);
    const c = r.cost;
    console.log(`  ${fmt(r.deliveriesPerSec)} deliveries/s; last member p50 ${r.last.p50Ms} / p99 ${r.last.p99Ms} / max ${r.last.maxMs} ms; ${r.lost} lost; ack p99 ${r.ack.p99Ms} ms; schedule lag p99 ${r.scheduleLag.p99Ms} ms`);
    console.log(`  cpu per delivery: node ${fmt(c.nodeUsPerMsg)} µs (${c.threads.map((x) => `${x.role}${x.threads > 1 ? `x${x.threads}` : ''} ${fmt(x.usPerMsg)}`).join(', ')}), client ${fmt(c.clientUsPerMsg)} µs (${c.clientCpuPct}% of a core); main loop delay p99 ${fmt(c.loopDelay?.p99Ms ?? -1)} / max ${fmt(c.loopDelay?.maxMs ?? -1)} ms`);
    await sleep(1000); // let the store settle between steps
  }
} finally {
  rx?.close();
  adminWs?.close();
  await node.stop();
  node.cleanup();
  probe.cleanup();
}

const header = [...FAN_HEADER_HEAD, 'node µs/deliv', 'client µs/deliv', 'loop p99', 'loop max', ...FAN_HEADER_TAIL];
const rows = steps.map((s) => [...fanRowHead(s), s.cost.nodeUsPerMsg, s.cost.clientUsPerMsg, s.cost.loopDelay?.p99Ms ?? -1, s.cost.loopDelay?.maxMs ?? -1, ...fanRowTail(s)]);
// Roles that cost nothing in every step (idle pools) are left out of the table (result.json has them).
const roles = [...new Set(steps.flatMap((s) => s.cost.threads.filter((t) => t.usPerMsg > 0).map((t) => t.role)))];
const roleRows = steps.map((s) => [s.targetRate === null ? 'closed' : s.targetRate, ...roles.map((r) => s.cost.threads.find((t) => t.role === r)?.usPerMsg ?? 0), s.cost.nodeUsPerMsg, s.nodeUsPerMessage]);
const roleHeader = ['msg/s', ...roles, 'total', 'per message'];
console.log(`\ngroup fan-out, ${cfg.members} members (${cfg.members - 1} receiving); latencies in ms from the intended send time; load average now ${load1()} (at start ${machine.loadAvg1m})`);
console.log(table(header, rows));
console.log(`\nnode CPU per delivery by thread role (µs; last column: per message sent)`);
console.log(table(roleHeader, roleRows));
writeFanResult({
  scenario: 'group-fanout',
  startedAt,
  outBase: flags.has('out') ? path.resolve(str(flags, 'out', '')) : undefined,
  machine,
  config: { ...cfg, mode: closedLoop ? 'closed' : 'open', encoding: 'proto', store: 'sqlite (embedded)' },
  steps,
  title: `Switchboard group fan-out (${cfg.members} members)`,
  meta: '',
  tables: [
    { title: 'steps', header, rows },
    { title: 'node CPU per delivery by thread role (µs)', header: roleHeader, rows: roleRows },
  ],
});
process.exit(0);

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
