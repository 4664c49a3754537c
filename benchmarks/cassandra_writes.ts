/**
 * Durable message writes per second into Cassandra: through the batched writer
 * (BatchWriter + CassandraStore.commit) against one statement per row per message,
 * in the same run, on the same node, with the same data shape, for one or more
 * shapes (number of conversations the load is spread over).
 *
 *   npm run bench -- cassandra-writes [--seconds 15 | --messages 40000]
 *        [--clients 256] [--conversations 10,100,1000] [--body 200] [--contact host:port
 *        --cassandra-pid N] [--commit-concurrency N] [--modes naive,batched,...]
 *        [--repeat 3] [--pack-partitions 10] [--paxos v1|v2 (the private Cassandra's
 *        paxos_variant: the seq guard's conditional writes run on it)]
 *
 * Without --contact it starts a private local Cassandra with the full JIT and the
 * default `batch` commit log (a write is acked after fsync: every counted write is
 * durable), and removes it afterwards. The table also shows CPU per message of this
 * process and of Cassandra (from /proc), which is where the ratios come from.
 *
 * Fairness: every mode runs `--clients` closed-loop senders (each awaits its message
 * before sending the next), so the offered concurrency is the same; every mode writes
 * the same rows per message (message row, dedup key; the last_seq hint once per
 * conversation and 1000-seq bucket) at CL ONE, with prepared, idempotent statements,
 * in the same order (dedup + hint, then message).
 *   batched   BatchWriter with the node's defaults for a Cassandra store (node/config.ts
 *             writerOptions: maxBatch 256, maxDelayMs 2, maxQueue 10 000, concurrency 4:
 *             commits overlapped, kept in order per conversation by the store) into
 *             CassandraStore.commit with its defaults (grouping 'auto': small partition
 *             pieces packed, <= 10 partitions per request; guardSeqs: message rows
 *             inserted IF NOT EXISTS, one conditional batch per partition piece).
 *   batched-unguarded  the same with guardSeqs false (plain upserts, packed like the
 *             other rows): the write path before the guard, so `batched` against it is
 *             what the guard costs, measured in the same run.
 *   batched-serial  the same as batched with writer concurrency 1 (one commit at a time).
 *   batched-partition  writer concurrency 1, grouping 'partition' (one unlogged batch
 *             per partition): the writer before pipelining and packing, for reference.
 *   naive     per message: dedup insert (+ hint update when due) concurrently, then
 *             the message insert; `--clients` messages in flight.
 *   naive-1   per message only the message insert (no dedup, no hint): a lower bound
 *             on per-message cost, for reference.
 * Results: a table per shape on stdout and results/<timestamp>-cassandra-writes/result.json.
 */
import os from 'node:os';
import cassandra from 'cassandra-driver';
import { checkKnown, num, parseFlags, str } from '../ops/lib/args.js';
import { Latency, type LatencySummary, type PercentileCurve } from './lib/latency.js';
import { processCpuUs } from './lib/proc_cpu.js';
import { finishRun, startRun } from './lib/run_output.js';
import { BatchWriter } from '../node/store/batch_writer.js';
import { defaultConfig, writerOptions } from '../node/config.js';
import { createCassandraClient, openCassandraStore } from '../node/store/cassandra_store.js';
import { bucketOf } from '../node/store/cassandra_plan.js';
import { startPrivateCassandra, testKeyspace, type PrivateCassandra } from '../node/store/cassandra_test_env.js';
import { LOCAL_DATACENTER } from '../ops/cassandra/index.js';
import type { StoredMessage, WriteOp } from '../node/store/types.js';

const MODES = ['naive', 'batched', 'batched-unguarded', 'batched-serial', 'batched-partition', 'naive-1'] as const;
type Mode = (typeof MODES)[number];

interface ModeResult {
  mode: Mode;
  conversations: number;
  messages: number;
  seconds: number;
  msgPerSec: number;
  latency: LatencySummary;
  /** send->ack by percentile, for the report's plot. */
  curve: PercentileCurve;
  batches?: number;
  meanBatch?: number;
  /** CPU time per message: this benchmark process (driver, writer) and the Cassandra process. */
  cpuUsPerMsg: { client: number; cassandra: number | null };
  /** Every repeat's msg/s; the other fields are the median run's. */
  runsMsgPerSec?: number[];
  /** 1-minute load average when the run ended (the box is shared). */
  load1m: number;
}

export async function runCassandraWrites(argv: string[]): Promise<ModeResult[]> {
  const flags = parseFlags(argv);
  checkKnown(flags, ['messages', 'clients', 'conversations', 'body', 'contact', 'warmup', 'commit-concurrency', 'modes', 'pack-partitions', 'repeat', 'cassandra-pid', 'seconds', 'out', 'paxos']);
  // A run is either a fixed number of messages or (--seconds) a fixed time: on this
  // box a 20,000-message run lasts 1-4 s, short enough for one flush or GC to decide it.
  const seconds = num(flags, 'seconds', 0);
  const messages = seconds > 0 ? Number.POSITIVE_INFINITY : num(flags, 'messages', 40_000);
  const clients = num(flags, 'clients', 256);
  const shapes = str(flags, 'conversations', '10,100').split(',').map((x) => Number(x));
  if (shapes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--conversations takes positive integers, e.g. 10,100,1000');
  const nodeWriter = writerOptions({ ...defaultConfig().store, kind: 'cassandra' });
  const modes = str(flags, 'modes', MODES.join(',')).split(',') as Mode[];
  for (const m of modes) if (!MODES.includes(m)) throw new Error(`unknown mode ${m} (one of ${MODES.join(', ')})`);
  if (!modes.includes('naive')) modes.unshift('naive');
  const bodyBytes = num(flags, 'body', 200);
  const warmup = num(flags, 'warmup', 20_000);
  const contact = str(flags, 'contact', '');
  const commitConcurrency = num(flags, 'commit-concurrency', 0) || undefined;
  const packPartitions = num(flags, 'pack-partitions', 0) || undefined;
  // The box is shared: each repeat runs the modes in a rotated order, and the table
  // shows each mode's median run, so a load spike or a flush does not pick a winner.
  const repeat = Math.max(1, Math.trunc(num(flags, 'repeat', 1)));
  // Shapes: 10 busy conversations (group chats, ~25 messages per partition per batch);
  // 100 and 1000 spread the same load thin (~2.5 and ~0.25 per partition, see CASSANDRA.md).
  const { startedAt, machine } = startRun();

  let node: PrivateCassandra | null = null;
  if (!contact) {
    console.error('starting a private Cassandra (jit full, commitlog batch)...');
    const paxos = str(flags, 'paxos', 'v1');
    if (paxos !== 'v1' && paxos !== 'v2') throw new Error(`--paxos must be v1 or v2, got ${paxos}`);
    node = await startPrivateCassandra({ jit: 'full', paxosVariant: paxos });
  }
  const cfg = {
    contactPoints: [contact || node!.contactPoint],
    localDataCenter: LOCAL_DATACENTER,
    keyspace: testKeyspace('bench'),
    consistency: 'one',
  };
  const cassandraPid = num(flags, 'cassandra-pid', 0) || node?.handle().pid || 0;
  const store = await openCassandraStore(cfg, { migrate: true, concurrency: commitConcurrency, batchMaxPartitions: packPartitions });
  const perPartition = await openCassandraStore(cfg, { concurrency: commitConcurrency, grouping: 'partition' });
  const unguarded = await openCassandraStore({ ...cfg, guardSeqs: false }, { concurrency: commitConcurrency, batchMaxPartitions: packPartitions });
  const client = createCassandraClient(cfg);
  await client.connect();
  const ks = cfg.keyspace;
  const q = {
    message:
      `INSERT INTO ${ks}.messages (conversation, bucket, seq, message_id, sender, sender_device, client_msg_id, body, meta, server_ts) ` +
      'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    dedup: `INSERT INTO ${ks}.dedup_seqs (conversation, sender, client_msg_id, seq) VALUES (?, ?, ?, ?)`,
    hint: `UPDATE ${ks}.conversations USING TIMESTAMP ? SET last_seq = ? WHERE id = ?`,
  };
  const opts = { prepare: true, isIdempotent: true, consistency: cassandra.types.consistencies.one };
  const body = 'x'.repeat(bodyBytes);

  /** Closed loop: `clients` senders share `count` messages over `conversations` conversations. */
  async function run(mode: Mode, conversations: number, count: number, tag: string, forSeconds = 0): Promise<ModeResult> {
    const seqs = new Array<number>(conversations).fill(0);
    const latency = new Latency();
    const hinted = new Map<string, number>();
    const sink = mode === 'batched-partition' ? perPartition : mode === 'batched-unguarded' ? unguarded : store;
    const pipelined = mode === 'batched' || mode === 'batched-unguarded';
    const writer = new BatchWriter<WriteOp>((ops) => sink.commit(ops), { ...nodeWriter, concurrency: pipelined ? nodeWriter.concurrency : 1 });
    let next = 0;
    const sendOne = async (i: number) => {
      const c = i % conversations;
      const m: StoredMessage = {
        conversation: `${tag}-${conversations}-${mode}-c${c}`,
        seq: ++seqs[c],
        messageId: `${tag}-m${i}`,
        sender: `u${i % 2}`,
        senderDevice: 'd1',
        clientMsgId: `${tag}-cm${i}`,
        body,
        meta: {},
        serverTs: Date.now(),
      };
      if (mode.startsWith('batched')) return writer.submit({ kind: 'message', message: m });
      const row = [m.conversation, bucketOf(m.seq), m.seq, m.messageId, m.sender, m.senderDevice, m.clientMsgId, m.body, m.meta, m.serverTs];
      if (mode === 'naive') {
        // The hint only has to name the newest bucket: like the store, write it once per bucket.
        const fresh = (hinted.get(m.conversation) ?? -1) < bucketOf(m.seq);
        await Promise.all([
          client.execute(q.dedup, [m.conversation, m.sender, m.clientMsgId, m.seq], opts),
          fresh ? client.execute(q.hint, [m.seq, m.seq, m.conversation], opts) : null,
        ]);
        if (fresh) hinted.set(m.conversation, Math.max(hinted.get(m.conversation) ?? -1, bucketOf(m.seq)));
      }
      await client.execute(q.message, row, opts);
    };
    const cpu0 = process.cpuUsage();
    const jvm0 = processCpuUs(cassandraPid);
    const t0 = performance.now();
    const deadline = forSeconds > 0 ? t0 + forSeconds * 1000 : Number.POSITIVE_INFINITY;
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < count && performance.now() < deadline) {
          const i = next++;
          const s = performance.now();
          await sendOne(i);
          latency.recordMs(performance.now() - s);
        }
      }),
    );
    const elapsed = (performance.now() - t0) / 1000;
    const done = next;
    const cpu = process.cpuUsage(cpu0);
    const jvm1 = processCpuUs(cassandraPid);
    await writer.close();
    const st = writer.stats();
    return {
      mode,
      conversations,
      messages: done,
      seconds: round(elapsed),
      msgPerSec: Math.round(done / elapsed),
      latency: latency.summary(),
      curve: latency.curve(),
      cpuUsPerMsg: {
        client: round((cpu.user + cpu.system) / done),
        cassandra: jvm0 !== null && jvm1 !== null ? round((jvm1 - jvm0) / done) : null,
      },
      ...(mode.startsWith('batched') ? { batches: st.batchesCommitted, meanBatch: round(st.opsCommitted / Math.max(1, st.batchesCommitted)) } : {}),
      load1m: round(os.loadavg()[0]),
    };
  }

  const results: ModeResult[] = [];
  try {
    for (const conversations of shapes) {
      for (const mode of modes) await run(mode, conversations, warmup, 'warm');
      const runs = new Map<Mode, ModeResult[]>(modes.map((m) => [m, []]));
      for (let k = 0; k < repeat; k++) {
        for (const mode of [...modes.slice(k % modes.length), ...modes.slice(0, k % modes.length)]) {
          const r = await run(mode, conversations, messages, `run${k}`, seconds);
          console.error(`${conversations} conversations, ${mode} (repeat ${k + 1}/${repeat}): ${r.msgPerSec} msg/s, p99 ${r.latency.p99Ms} ms, load ${r.load1m}`);
          runs.get(mode)!.push(r);
        }
      }
      for (const mode of modes) {
        const sorted = [...runs.get(mode)!].sort((a, b) => a.msgPerSec - b.msgPerSec);
        results.push({ ...sorted[Math.floor((sorted.length - 1) / 2)], runsMsgPerSec: runs.get(mode)!.map((r) => r.msgPerSec) });
      }
    }
  } finally {
    await client.shutdown();
    await store.close();
    await perPartition.close();
    await unguarded.close();
    await node?.destroy();
  }

  const ratios: Record<string, number> = {};
  /** The seq guard's cost: batched (guarded) against batched-unguarded, per shape. */
  const guardCost: Record<string, { msgPerSec: number; p99Ms: { guarded: number; unguarded: number }; cassandraCpuUsPerMsg: { guarded: number | null; unguarded: number | null } }> = {};
  const tables = shapes.map((conversations) => {
    const mine = results.filter((r) => r.conversations === conversations);
    const naive = mine.find((r) => r.mode === 'naive')!;
    const batched = mine.find((r) => r.mode === 'batched');
    if (batched) ratios[String(conversations)] = round(batched.msgPerSec / naive.msgPerSec);
    const bare = mine.find((r) => r.mode === 'batched-unguarded');
    if (batched && bare) {
      guardCost[String(conversations)] = {
        msgPerSec: round(batched.msgPerSec / bare.msgPerSec),
        p99Ms: { guarded: batched.latency.p99Ms, unguarded: bare.latency.p99Ms },
        cassandraCpuUsPerMsg: { guarded: batched.cpuUsPerMsg.cassandra, unguarded: bare.cpuUsPerMsg.cassandra },
      };
    }
    return {
      title: `Cassandra durable writes: ${seconds > 0 ? `${seconds} s runs` : `${messages} messages`} x ${bodyBytes} B over ${conversations} conversations, ${clients} closed-loop senders, CL ONE, commitlog batch, writer concurrency ${nodeWriter.concurrency} (batched-serial and batched-partition: 1)`,
      header: ['mode', 'msg/s (median)', 'p50 ms', 'p99 ms', 'max ms', 'mean batch', 'client CPU µs/msg', 'Cassandra CPU µs/msg', 'vs naive', 'every repeat', 'load at end'],
      rows: mine.map((r) => [
        r.mode,
        r.msgPerSec,
        r.latency.p50Ms,
        r.latency.p99Ms,
        r.latency.maxMs,
        r.meanBatch ?? '-',
        r.cpuUsPerMsg.client,
        r.cpuUsPerMsg.cassandra ?? '-',
        `${round(r.msgPerSec / naive.msgPerSec)}x`,
        (r.runsMsgPerSec ?? []).join(' / '),
        r.load1m,
      ]),
    };
  });
  finishRun({
    scenario: 'cassandra-writes',
    startedAt,
    machine,
    argv: ['bench', 'cassandra-writes', ...argv],
    flags,
    config: {
      messages: seconds > 0 ? null : messages,
      seconds: seconds > 0 ? seconds : null,
      clients,
      repeat,
      writer: nodeWriter,
      commitConcurrency: commitConcurrency ?? 'default',
      conversations: shapes,
      bodyBytes,
      warmup,
      consistency: 'one',
      commitlogSync: contact ? 'unknown (--contact)' : 'batch',
      paxosVariant: contact ? 'unknown (--contact)' : str(flags, 'paxos', 'v1'),
      jit: contact ? 'unknown' : 'full',
    },
    figures: { results, batchedVsNaive: ratios, guardedVsUnguarded: guardCost, loadAverageAtEnd: os.loadavg().map(round) },
    tables,
    charts: shapes.map((conversations) => ({
      title: `write latency (submit -> durable), ${conversations} conversations, median repeat of each mode`,
      xLabel: 'percentile',
      yLabel: 'ms',
      xKind: 'nines' as const,
      logY: true,
      series: results.filter((r) => r.conversations === conversations).map((r) => ({ label: `${r.mode} (${r.msgPerSec} msg/s)`, points: r.curve })),
    })),
  });
  return results;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
