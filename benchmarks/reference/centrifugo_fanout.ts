/**
 * Group fan-out on a reference server: the counterpart of benchmarks/group_fanout.ts's
 * open loop against Centrifugo v6 (a Go real-time messaging server) on the same box, with
 * the same kind of client, so Switchboard's fan-out figures have something to be read
 * against. A 1,024-member "group" is one Centrifugo channel with 1,023 subscribers and one
 * publisher that is not subscribed (as Switchboard's bench: 1,024 members, the sender's own
 * copy not counted).
 *
 *   bash ops/centrifugo/ensure-deps.sh                      # builds the binary once (go install)
 *   node --import tsx benchmarks/reference/centrifugo_fanout.ts --rates 50,100,150,200 --duration 8 [--members 1024]
 *   node --import tsx benchmarks/reference/centrifugo_fanout.ts --rate 100 --duration 8 --publish http
 *
 * Method (group_fanout.ts's open loop): message i of a step is due at t0 + i/rate; every
 * message due at a timer tick is written at once; its latencies count from the intended
 * time (no coordinated omission). A message not at every member by the end of the drain
 * is lost. Per step: deliveries/s (deliveries / wall time from the first due send to the
 * last completion, or to the end of the drain), time to the LAST (and first) member
 * p50/p90/p99/max, send->ack, lost messages, errors, server CPU per delivery (Centrifugo's
 * one process: utime + stime from /proc/<pid>/stat before and after the step), this
 * client's CPU per delivery (process.cpuUsage), the 1-minute load average.
 *
 * The server: benchmarks/reference/centrifugo.ts (memory engine, history on: kept in
 * memory, where Switchboard's store is durable on disk; JWT-authenticated clients). The
 * client protocol is Centrifugo's Protobuf one (centrifuge_proto.ts says why); the
 * subscribers are FastWs connections whose frames are scanned, not decoded
 * (centrifugo_receivers.ts); the publisher (centrifugo_publisher.ts) is a client
 * connection writing prepared publish commands by default, or the server HTTP API.
 *
 * Flags and defaults:
 *   --members 1024     the product's group size limit, group_fanout.ts's default.
 *   --rates / --rate   messages per second, one step per rate (--rates wins); required.
 *   --duration 10      seconds of sending per step, as group_fanout.ts (capped at 600).
 *   --drain 5          seconds after the last due send for every member to have every message; later is lost.
 *   --body-bytes 100   padding in each message's data: a typical chat text, as group_fanout.ts.
 *   --publish client   `client` (prepared frames on a client connection: cheapest for the bench
 *                      process, the same shape as Switchboard's sender) or `http` (/api/publish).
 *   --out DIR          results dir base; default results/ (results/<time>-centrifugo-fanout/).
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { parseFlags, checkKnown, num, str, seconds } from '../../ops/lib/args.js';
import { machineInfo } from '../../ops/lib/results.js';
import { driveFanStep, fanStepFigures, load1, FanSender, type FanStepFigures } from '../chat/fan_arrivals.js';
import { FAN_HEADER_HEAD, FAN_HEADER_TAIL, fanRowHead, fanRowTail, writeFanResult } from '../chat/fan_report.js';
import { processCpuUs } from '../lib/proc_cpu.js';
import { fmt, table } from '../lib/table.js';
import { startCentrifugo, NAMESPACE } from './centrifugo.js';
import { CentrifugoReceivers, openClient, openMembers } from './centrifugo_receivers.js';
import { clientPublisher, httpPublisher, type Publisher, type PublishPath } from './centrifugo_publisher.js';
import { INDEX_SPAN } from './centrifuge_proto.js';

const FLAGS = ['members', 'rate', 'rates', 'duration', 'drain', 'body-bytes', 'publish', 'out'];
const flags = parseFlags(process.argv.slice(2));
checkKnown(flags, FLAGS);
const cfg = {
  members: num(flags, 'members', 1024),
  rates: str(flags, 'rates', '').split(',').filter(Boolean).map(Number),
  durationSec: seconds(flags, 'duration', 10),
  drainMs: num(flags, 'drain', 5) * 1000,
  bodyBytes: num(flags, 'body-bytes', 100),
  publish: str(flags, 'publish', 'client') as PublishPath,
};
if (!cfg.rates.length && flags.has('rate')) cfg.rates = [num(flags, 'rate', 0)];
if (!cfg.rates.length) throw new Error('--rates 50,100,... (or --rate N) is required: this bench is open loop only');
if (cfg.rates.some((r) => !(r > 0)) || cfg.members < 2 || cfg.durationSec <= 0) throw new Error('--rate(s) and --duration must be positive and --members >= 2');
if (cfg.durationSec > 600) throw new Error('--duration is capped at 600 s');
if (cfg.publish !== 'client' && cfg.publish !== 'http') throw new Error('--publish is client or http');

interface StepRow extends FanStepFigures<number> {
  serverUsPerDelivery: number;
  serverCpuPct: number;
  clientUsPerDelivery: number;
  clientCpuPct: number;
}

const startedAt = new Date();
const machine = machineInfo();
const r1 = (x: number): number => Math.round(x * 10) / 10;
console.log(`centrifugo group fan-out: ${cfg.members} members (${cfg.members - 1} subscribers), open loop, ${cfg.rates.join(', ')} msg/s for ${cfg.durationSec} s each, publish via ${cfg.publish}`);
console.log(`machine: ${machine.cpus} x ${machine.cpuModel}, node ${machine.node}, load ${machine.loadAvg1m} (other work on the box makes figures noisy)`);

const cf = await startCentrifugo();
console.log(`${cf.version} on 127.0.0.1:${cf.port} (pid ${cf.pid}, config ${cf.dir}/config.json)`);
const steps: StepRow[] = [];
let rx: CentrifugoReceivers | null = null;
let pub: Publisher | null = null;
try {
  const tag = `g${randomBytes(3).toString('hex')}`;
  const channel = `${NAMESPACE}:${tag}`;
  const users = Array.from({ length: cfg.members - 1 }, (_, i) => `${tag}-m${i}`);
  const tSetup = performance.now();
  const members = new CentrifugoReceivers(await openMembers(cf.wsUrl, users, cf.token, channel));
  rx = members;
  const publisher = cfg.publish === 'client' ? clientPublisher(await openClient(cf.wsUrl, cf.token(`${tag}-admin`)), channel, cfg.bodyBytes) : httpPublisher(cf.apiUrl, cf.apiKey, channel, cfg.bodyBytes);
  pub = publisher;
  console.log(`${cfg.members - 1} subscribers connected and subscribed to ${channel} in ${fmt((performance.now() - tSetup) / 1000)} s`);

  const acks = new FanSender(members);
  publisher.onAck = (index, error) => {
    if (!acks.waiting(index)) return;
    if (error) return members.count(error);
    acks.acknowledged(index);
  };

  const runStep = async (stepNo: number, rate: number): Promise<StepRow> => {
    const total = Math.max(1, Math.round(rate * cfg.durationSec));
    if (total >= INDEX_SPAN) throw new Error(`${total} messages in one step: at most ${INDEX_SPAN - 1}`);
    members.begin(stepNo, total);
    const server0 = processCpuUs(cf.pid) ?? 0;
    const client0 = process.cpuUsage();
    const wall0 = performance.now();
    const t0 = performance.now() + 5;
    acks.begin(stepNo * INDEX_SPAN, total, t0);
    members.lastCompleteAt = t0;
    const send = (from: number, to: number, now: number): void => {
      acks.sending(from, to, now);
      publisher.publish(acks.base + from, acks.base + to);
    };
    const sent = await driveFanStep(members, { stepNo, rate, total, t0, drainMs: cfg.drainMs, acked: () => acks.count, send });
    const { deliveries, lost, fewestMembers, wallSec } = acks.end(sent, t0);
    const cpuWallSec = (performance.now() - wall0) / 1000;
    const serverUs = (processCpuUs(cf.pid) ?? 0) - server0;
    const cu = process.cpuUsage(client0);
    const clientUs = cu.user + cu.system;
    return {
      ...fanStepFigures(members, { rate, sent, acked: acks.count, lost, fewestMembers, deliveries, wallSec, ack: acks.ack, lag: acks.lag }),
      serverUsPerDelivery: r1(serverUs / Math.max(1, deliveries)),
      serverCpuPct: Math.round(serverUs / 1e4 / cpuWallSec),
      clientUsPerDelivery: r1(clientUs / Math.max(1, deliveries)),
      clientCpuPct: Math.round(clientUs / 1e4 / cpuWallSec),
    };
  };

  for (const [k, rate] of cfg.rates.entries()) {
    console.log(`step ${k + 1}/${cfg.rates.length}: ${fmt(rate)} msg/s for ${cfg.durationSec} s (${fmt(rate * users.length)} deliveries/s offered); load ${load1()}`);
    const r = await runStep(k + 1, rate);
    steps.push(r);
    console.log(`  ${fmt(r.deliveriesPerSec)} deliveries/s; last member p50 ${r.last.p50Ms} / p99 ${r.last.p99Ms} / max ${r.last.maxMs} ms; ${r.lost} lost; ack p99 ${r.ack.p99Ms} ms; schedule lag p99 ${r.scheduleLag.p99Ms} ms`);
    console.log(`  cpu per delivery: server ${fmt(r.serverUsPerDelivery)} µs (${r.serverCpuPct}% of a core), client ${fmt(r.clientUsPerDelivery)} µs (${r.clientCpuPct}% of a core)`);
    await sleep(1000); // as group_fanout.ts: a pause between steps
  }
} finally {
  rx?.close();
  pub?.close();
  await cf.stop();
}

const header = [...FAN_HEADER_HEAD, 'server µs/deliv', 'client µs/deliv', 'server cpu%', 'client cpu%', ...FAN_HEADER_TAIL];
const rows = steps.map((s) => [...fanRowHead(s), s.serverUsPerDelivery, s.clientUsPerDelivery, s.serverCpuPct, s.clientCpuPct, ...fanRowTail(s)]);
console.log(`\ncentrifugo group fan-out, ${cfg.members} members (${cfg.members - 1} subscribers), publish via ${cfg.publish}; latencies in ms from the intended send time; load average now ${load1()} (at start ${machine.loadAvg1m})`);
console.log(table(header, rows));
writeFanResult({
  scenario: 'centrifugo-fanout',
  startedAt,
  outBase: flags.has('out') ? path.resolve(str(flags, 'out', '')) : undefined,
  machine,
  config: { ...cfg, mode: 'open', server: cf.version, engine: 'memory', history: 'memory (history_size 10000, history_ttl 1h)', encoding: 'centrifuge protobuf' },
  steps,
  title: `Centrifugo group fan-out (${cfg.members} members)`,
  meta: `${cf.version}, `,
  tables: [{ title: 'steps', header, rows }],
  notes: [
    'Reference for benchmarks/group_fanout.ts: same method (open loop, latencies from the intended send time, 5 s drain), same client (FastWs, frames scanned not decoded).',
    "Centrifugo's history is in memory; Switchboard persists every message to a durable store on disk.",
    'server µs/deliv: CPU of the Centrifugo process (utime + stime) over the step, including the drain, divided by deliveries.',
  ],
});
process.exit(0);

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
