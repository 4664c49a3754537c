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
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { parseFlags, checkKnown, num, bool, str, seconds } from '../ops/lib/args.js';
import { machineInfo, resultDir, writeJson } from '../ops/lib/results.js';
import { writeReport } from '../ops/report/html.js';
import { startBenchNode, minter } from './lib/bench_node.js';
import { NodeProbe } from './lib/node_probe.js';
import { StepMeter, type StepCost } from './lib/step_meter.js';
import { Latency } from './lib/latency.js';
import { fmt, table } from './lib/table.js';
import { FanReceivers, openMembers } from './chat/fan_receivers.js';
import { driveFanStep, fanStepFigures, type FanStepFigures } from './chat/fan_arrivals.js';
import { setupConn, syncAll } from './chat/setup_conn.js';
import { peek, sendTemplate, writeId, errorCode, KIND_SEND_ACK, KIND_ERROR, STEP_SPAN } from './chat/chat_frames.js';

const FLAGS = ['members', 'messages', 'rate', 'rates', 'duration', 'drain', 'body-bytes', 'smoke', 'out'];
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
  loadAvg1m: number;
  lastCurve: Array<[number, number]>;
}

const startedAt = new Date();
const machine = machineInfo();
const load1 = (): number => Math.round(os.loadavg()[0] * 100) / 100;
console.log(`group fan-out: ${cfg.members} members (${cfg.members - 1} receiving), ${closedLoop ? `closed loop, ${cfg.messages} messages` : `open loop, ${cfg.rates.join(', ')} msg/s for ${cfg.durationSec} s each`}`);
console.log(`machine: ${machine.cpus} x ${machine.cpuModel}, node ${machine.node}, load ${machine.loadAvg1m} (other work on the box makes figures noisy)`);

const probe = new NodeProbe();
// The node's send limits are lifted (BENCH_LIMITS) so they refuse none of the load.
const node = await startBenchNode({ env: probe.env() });
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
  const ack = new Latency();
  const lag = new Latency();
  let acked = new Uint8Array(0);
  let ackCount = 0;
  let lastAckAt = 0;
  let base = 0;
  admin.ws.onMessage = (buf, s, e) => {
    const f = peek(buf, s, e);
    if (f.kind === KIND_ERROR) return members.count(errorCode(buf, s, e));
    if (f.kind !== KIND_SEND_ACK) return; // its own message echoed, receipts
    const i = f.id - base;
    if (f.id < 0 || i < 0 || i >= acked.length || acked[i]) return;
    acked[i] = 1;
    ackCount++;
    lastAckAt = performance.now();
    ack.recordMs(lastAckAt - members.due[i]);
  };
  const send = (from: number, to: number, now: number): void => {
    const len = tpl.frame.length;
    const out = Buffer.allocUnsafe(len * (to - from));
    for (let i = from; i < to; i++) {
      tpl.frame.copy(out, (i - from) * len);
      writeId(out, (i - from) * len + tpl.idAt, base + i);
      lag.recordMs(now - members.due[i]);
    }
    if (admin.ws.open) admin.ws.writeRaw(out);
    else members.count('sender_not_open', to - from);
  };
  const meter = new StepMeter(node.proc.pid!, node.httpUrl, probe, false);

  const runStep = async (stepNo: number, rate: number | null): Promise<StepRow> => {
    const total = rate === null ? cfg.messages : Math.max(1, Math.round(rate * cfg.durationSec));
    members.begin(stepNo, total);
    acked = new Uint8Array(total);
    ackCount = 0;
    base = stepNo * STEP_SPAN;
    ack.reset();
    lag.reset();
    await meter.begin();
    const t0 = performance.now() + 5;
    lastAckAt = members.lastCompleteAt = t0;
    const sent = await driveFanStep(members, { stepNo, rate, total, t0, drainMs: cfg.drainMs, acked: () => ackCount, send });
    const done = members.complete === sent && ackCount === sent;
    const endAt = done ? Math.max(members.lastCompleteAt, lastAckAt) : performance.now();
    const deliveries = members.deliveries;
    const { lost, fewestMembers } = members.end(sent);
    const cost = await meter.end(deliveries, deliveries); // per delivery: node and client alike
    if (ackCount < sent) members.count('unacked', sent - ackCount);
    const wallSec = (endAt - t0) / 1000;
    return {
      mode: rate === null ? 'closed' : 'open',
      ...fanStepFigures(members, { rate, sent, acked: ackCount, lost, fewestMembers, deliveries, wallSec, ack, lag }),
      cost,
      nodeUsPerMessage: Math.round((cost.nodeUsPerMsg * deliveries) / Math.max(1, sent)),
      loadAvg1m: load1(),
      lastCurve: members.last.curve(),
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

const header = ['msg/s', 'sent', 'lost', 'deliv/s', 'last p50', 'p90', 'p99', 'max ms', 'ack p99', 'node µs/deliv', 'client µs/deliv', 'loop p99', 'loop max', 'load1m', 'errors'];
const rows = steps.map((s) => [
  s.targetRate === null ? 'closed' : s.targetRate, s.sent, s.lost, s.deliveriesPerSec, s.last.p50Ms, s.last.p90Ms, s.last.p99Ms, s.last.maxMs, s.ack.p99Ms,
  s.cost.nodeUsPerMsg, s.cost.clientUsPerMsg, s.cost.loopDelay?.p99Ms ?? -1, s.cost.loopDelay?.maxMs ?? -1, s.loadAvg1m,
  Object.entries(s.errors).map(([k, v]) => `${k} ${v}`).join(' ') || '-',
]);
// Roles that cost nothing in every step (idle pools) are left out of the table (result.json has them).
const roles = [...new Set(steps.flatMap((s) => s.cost.threads.filter((t) => t.usPerMsg > 0).map((t) => t.role)))];
const roleRows = steps.map((s) => [s.targetRate === null ? 'closed' : s.targetRate, ...roles.map((r) => s.cost.threads.find((t) => t.role === r)?.usPerMsg ?? 0), s.cost.nodeUsPerMsg, s.nodeUsPerMessage]);
const roleHeader = ['msg/s', ...roles, 'total', 'per message'];
console.log(`\ngroup fan-out, ${cfg.members} members (${cfg.members - 1} receiving); latencies in ms from the intended send time; load average now ${load1()} (at start ${machine.loadAvg1m})`);
console.log(table(header, rows));
console.log(`\nnode CPU per delivery by thread role (µs; last column: per message sent)`);
console.log(table(roleHeader, roleRows));

const dir = resultDir('group-fanout', startedAt, flags.has('out') ? path.resolve(str(flags, 'out', '')) : undefined);
const envelope = {
  scenario: 'group-fanout',
  startedAt: startedAt.toISOString(),
  finishedAt: new Date().toISOString(),
  command: process.argv.slice(1).join(' '),
  machine,
  config: { ...cfg, mode: closedLoop ? 'closed' : 'open', encoding: 'proto', store: 'sqlite (embedded)', clientProcesses: 1, loadAvgAtEnd: load1() },
  figures: { steps },
};
writeJson(path.join(dir, 'result.json'), envelope);
const label = (s: StepRow): string => (s.targetRate === null ? 'closed loop' : `${fmt(s.targetRate)} msg/s`);
writeReport(path.join(dir, 'report.html'), {
  title: `Switchboard group fan-out (${cfg.members} members)`,
  envelope,
  meta: [envelope.command, `${machine.cpus} x ${machine.cpuModel}, load ${machine.loadAvg1m} at start, ${load1()} at end`],
  tables: [
    { title: 'steps', header, rows },
    { title: 'node CPU per delivery by thread role (µs)', header: roleHeader, rows: roleRows },
  ],
  charts: [
    { title: 'deliveries/s by target rate', xLabel: 'msg/s', yLabel: 'deliveries/s', series: [{ label: 'achieved', points: steps.filter((s) => s.targetRate !== null).map((s) => [s.targetRate!, s.deliveriesPerSec]) }] },
    { title: 'time to the last member by percentile', xLabel: 'percentile', yLabel: 'ms', xKind: 'nines', logY: true, series: steps.map((s) => ({ label: label(s), points: s.lastCurve })) },
  ],
});
console.log(`\nresult: ${path.relative(process.cwd(), dir)}/result.json  (report.html beside it)`);
process.exit(0);

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
