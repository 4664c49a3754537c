/**
 * Durable message writes per second into Cassandra: through the batched writer
 * (BatchWriter + CassandraStore.commit) against one statement per row per message,
 * in the same run, on the same node, with the same data shape.
 *
 *   node --import tsx benchmarks/cassandra_writes.ts [--messages 40000] [--clients 256]
 *        [--conversations 10] [--body 200] [--contact host:port] [--commit-concurrency N]
 *
 * Without --contact it starts a private local Cassandra with the full JIT and the
 * default `batch` commit log (a write is acked after fsync: every counted write is
 * durable), and removes it afterwards.
 *
 * Fairness: every mode runs `--clients` closed-loop senders (each awaits its message
 * before sending the next), so the offered concurrency is the same; every mode writes
 * the same rows per message (message row, dedup key; the last_seq hint once per
 * conversation and 1000-seq bucket) at CL ONE, with prepared, idempotent statements,
 * in the same order (dedup + hint, then message).
 *   batched   BatchWriter (maxBatch 256, maxDelayMs 2, the node defaults) into
 *             CassandraStore.commit with its defaults: one unlogged batch per
 *             partition, <= 32 requests in flight per commit.
 *   batched-replica  the same with grouping 'replica': partitions on the same
 *             replica set share one unlogged batch (fewer, bigger requests).
 *   naive     per message: dedup insert (+ hint update when due) concurrently, then
 *             the message insert; `--clients` messages in flight.
 *   naive-1   per message only the message insert (no dedup, no hint): a lower bound
 *             on per-message cost, for reference.
 * Results: a table on stdout and results/<timestamp>-cassandra-writes/result.json.
 */
import path from 'node:path';
import cassandra from 'cassandra-driver';
import { checkKnown, num, parseFlags, str } from './lib/args.js';
import { Latency, type LatencySummary } from './lib/latency.js';
import { machineInfo, resultDir, writeJson } from './lib/results.js';
import { table } from './lib/table.js';
import { BatchWriter } from '../node/store/batch_writer.js';
import { createCassandraClient, openCassandraStore } from '../node/store/cassandra_store.js';
import { bucketOf } from '../node/store/cassandra_writer.js';
import { startPrivateCassandra, testKeyspace, type PrivateCassandra } from '../node/store/cassandra_test_env.js';
import { LOCAL_DATACENTER } from '../ops/cassandra/index.js';
import type { StoredMessage, WriteOp } from '../node/store/types.js';

type Mode = 'batched' | 'batched-replica' | 'naive' | 'naive-1';

interface ModeResult {
  mode: Mode;
  messages: number;
  seconds: number;
  msgPerSec: number;
  latency: LatencySummary;
  batches?: number;
  meanBatch?: number;
}

export async function runCassandraWrites(argv: string[]): Promise<ModeResult[]> {
  const flags = parseFlags(argv);
  checkKnown(flags, ['messages', 'clients', 'conversations', 'body', 'contact', 'warmup', 'commit-concurrency']);
  const messages = num(flags, 'messages', 40_000);
  const clients = num(flags, 'clients', 256);
  const conversations = num(flags, 'conversations', 10);
  const bodyBytes = num(flags, 'body', 200);
  const warmup = num(flags, 'warmup', 5_000);
  const contact = str(flags, 'contact', '');
  const commitConcurrency = num(flags, 'commit-concurrency', 0) || undefined;
  // Default shape: 10 busy conversations (group chats); --conversations 100 spreads the
  // same load thin, where each batch holds ~1 message per partition (see CASSANDRA.md).
  const startedAt = new Date();

  let node: PrivateCassandra | null = null;
  if (!contact) {
    console.error('starting a private Cassandra (jit full, commitlog batch)...');
    node = await startPrivateCassandra({ jit: 'full' });
  }
  const cfg = {
    contactPoints: [contact || node!.contactPoint],
    localDataCenter: LOCAL_DATACENTER,
    keyspace: testKeyspace('bench'),
    consistency: 'one',
  };
  const store = await openCassandraStore(cfg, { migrate: true, concurrency: commitConcurrency });
  const perReplica = await openCassandraStore(cfg, { concurrency: commitConcurrency, grouping: 'replica' });
  const client = createCassandraClient(cfg);
  await client.connect();
  const ks = cfg.keyspace;
  const q = {
    message:
      `INSERT INTO ${ks}.messages (conversation, bucket, seq, message_id, sender, sender_device, client_msg_id, body, meta, server_ts) ` +
      'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    dedup: `INSERT INTO ${ks}.dedup (conversation, sender, client_msg_id, seq) VALUES (?, ?, ?, ?)`,
    hint: `UPDATE ${ks}.conversations USING TIMESTAMP ? SET last_seq = ? WHERE id = ?`,
  };
  const opts = { prepare: true, isIdempotent: true, consistency: cassandra.types.consistencies.one };
  const body = 'x'.repeat(bodyBytes);

  /** Closed loop: `clients` senders share `count` messages over `conversations` conversations. */
  async function run(mode: Mode, count: number, tag: string): Promise<ModeResult> {
    const seqs = new Array<number>(conversations).fill(0);
    const latency = new Latency();
    const hinted = new Map<string, number>();
    const sink = mode === 'batched-replica' ? perReplica : store;
    const writer = new BatchWriter<WriteOp>((ops) => sink.commit(ops), { maxBatch: 256, maxDelayMs: 2, maxQueue: 10_000 });
    let next = 0;
    const sendOne = async (i: number) => {
      const c = i % conversations;
      const m: StoredMessage = {
        conversation: `${tag}-${mode}-c${c}`,
        seq: ++seqs[c],
        messageId: `${tag}-m${i}`,
        sender: `u${i % 2}`,
        senderDevice: 'd1',
        clientMsgId: `${tag}-cm${i}`,
        body,
        meta: {},
        serverTs: Date.now(),
      };
      if (mode === 'batched' || mode === 'batched-replica') return writer.submit({ kind: 'message', message: m });
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
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < count) {
          const i = next++;
          const s = performance.now();
          await sendOne(i);
          latency.recordMs(performance.now() - s);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    await writer.close();
    const st = writer.stats();
    return {
      mode,
      messages: count,
      seconds: round(seconds),
      msgPerSec: Math.round(count / seconds),
      latency: latency.summary(),
      ...(mode.startsWith('batched') ? { batches: st.batchesCommitted, meanBatch: round(st.opsCommitted / Math.max(1, st.batchesCommitted)) } : {}),
    };
  }

  const results: ModeResult[] = [];
  try {
    const modes: Mode[] = ['naive', 'batched', 'batched-replica', 'naive-1'];
    for (const mode of modes) await run(mode, warmup, 'warm');
    for (const mode of modes) {
      const r = await run(mode, messages, 'run');
      console.error(`${mode}: ${r.msgPerSec} msg/s`);
      results.push(r);
    }
  } finally {
    await client.shutdown();
    await store.close();
    await perReplica.close();
    await node?.destroy();
  }

  const naive = results.find((r) => r.mode === 'naive')!;
  const rows = results.map((r) => [
    r.mode,
    r.msgPerSec,
    r.latency.p50Ms,
    r.latency.p99Ms,
    r.latency.maxMs,
    r.meanBatch ?? '-',
    `${round(r.msgPerSec / naive.msgPerSec)}x`,
  ]);
  console.log(
    `\nCassandra durable writes: ${messages} messages x 200 B over ${conversations} conversations, ${clients} closed-loop senders, CL ONE, commitlog batch\n`,
  );
  console.log(table(['mode', 'msg/s', 'p50 ms', 'p99 ms', 'max ms', 'mean batch', 'vs naive'], rows));
  const dir = resultDir('cassandra-writes', startedAt);
  writeJson(path.join(dir, 'result.json'), {
    scenario: 'cassandra-writes',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    command: `node --import tsx benchmarks/cassandra_writes.ts ${argv.join(' ')}`.trim(),
    machine: machineInfo(),
    config: { messages, clients, commitConcurrency: commitConcurrency ?? 'default', conversations, bodyBytes, warmup, consistency: 'one', commitlogSync: contact ? 'unknown (--contact)' : 'batch', jit: contact ? 'unknown' : 'full' },
    figures: { results, batchedVsNaive: round(results.find((r) => r.mode === 'batched')!.msgPerSec / naive.msgPerSec) },
  });
  console.log(`\nwrote ${path.relative(process.cwd(), dir)}/result.json`);
  return results;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('cassandra_writes.ts')) {
  try {
    await runCassandraWrites(process.argv.slice(2));
    process.exit(0);
  } catch (e) {
    console.error(`cassandra-writes: ${(e as Error).stack ?? e}`);
    process.exit(1);
  }
}
