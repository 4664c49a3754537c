/**
 * What a write costs Cassandra, split into its parts: per request, per mutation (one
 * partition's share of a request) and per row. It explains the batched writer's
 * figures in cassandra_writes.ts: batching can only save the parts it shares.
 *
 *   npm run bench -- cassandra-costs [--sync batch,periodic] [--seconds 8]
 *        [--repeat 3] [--contact host:port --cassandra-pid N]
 *
 * Three shapes of message-row inserts, each with about 256 rows in flight, measured by
 * the Cassandra process's CPU time (utime + stime from /proc) per row:
 *   request    one row per request                      = R + M + W
 *   packed     unlogged batches of 10 partitions x 1 row = R/10 + M + W
 *   partition  unlogged batches of 1 partition x 25 rows = R/25 + M/25 + W
 * solved for R (request), M (mutation) and W (row), and a fourth, `dedup-read`: the
 * lookup of a missing key that every send does before it takes a seq. Then, for a commit that holds k
 * messages per partition (each message = a message row and a dedup row, in two
 * partitions), the best ratio any batching writer can reach over one request per row:
 *   (R + M + W) / (W + M/k + R/(10k))     (k >= 1: a partition cannot be shared below one)
 * Without --contact it starts a private Cassandra per commit-log mode and removes it.
 * Results: a table on stdout and results/<timestamp>-cassandra-costs/result.json.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import cassandra from 'cassandra-driver';
import { checkKnown, num, parseFlags, str } from '../ops/lib/args.js';
import { processCpuUs } from './lib/proc_cpu.js';
import { finishRun, startRun } from './lib/run_output.js';
import type { ReportTable } from '../ops/report/html.js';
import { createCassandraClient, openCassandraStore } from '../node/store/cassandra_store.js';
import { testKeyspace } from '../node/store/cassandra_test_env.js';
import { LOCAL_DATACENTER, startCassandra, type CommitlogSync } from '../ops/cassandra/index.js';

interface Shape {
  name: 'request' | 'packed' | 'partition' | 'dedup-read';
  partitions: number;
  rowsPerPartition: number;
  inflight: number;
}
const SHAPES: Shape[] = [
  { name: 'request', partitions: 1, rowsPerPartition: 1, inflight: 256 },
  { name: 'packed', partitions: 10, rowsPerPartition: 1, inflight: 26 },
  { name: 'partition', partitions: 1, rowsPerPartition: 25, inflight: 10 },
  // Not a write: the dedup lookup every send does before it takes a seq, for a key
  // that is not there (a new message) in a partition that exists (a sender who has
  // written in that conversation before). Rows here = lookups.
  { name: 'dedup-read', partitions: 1, rowsPerPartition: 1, inflight: 256 },
];
const DEDUP_PARTITIONS = 1000;

interface ShapeResult {
  shape: Shape['name'];
  rowsPerSec: number;
  cassandraUsPerRow: number;
  clientUsPerRow: number;
}
interface Costs {
  requestUs: number;
  mutationUs: number;
  rowUs: number;
}

export async function runCassandraCosts(argv: string[]): Promise<unknown> {
  const flags = parseFlags(argv);
  checkKnown(flags, ['sync', 'seconds', 'repeat', 'contact', 'cassandra-pid', 'out']);
  const seconds = num(flags, 'seconds', 8);
  const repeat = Math.max(1, Math.trunc(num(flags, 'repeat', 3)));
  const contact = str(flags, 'contact', '');
  const syncs = str(flags, 'sync', contact ? 'unknown' : 'batch,periodic').split(',');
  for (const s of syncs) if (!contact && !['batch', 'group', 'periodic'].includes(s)) throw new Error(`--sync: one of batch, group, periodic (got ${s})`);
  const { startedAt, machine } = startRun();
  const tables: ReportTable[] = [];
  const notes: string[] = [];
  const out: Record<string, { shapes: ShapeResult[]; costs: Costs; ceiling: Array<{ messagesPerPartition: number; ratio: number }> }> = {};

  for (const sync of syncs) {
    let dataDir = '';
    let node: Awaited<ReturnType<typeof startCassandra>> | null = null;
    if (!contact) {
      dataDir = mkdtempSync(path.join(os.tmpdir(), 'sb-bench-costs-'));
      console.error(`starting a private Cassandra (commitlog ${sync})...`);
      node = await startCassandra({ dataDir, port: 0, jit: 'full', commitlogSync: sync as CommitlogSync });
    }
    const pid = num(flags, 'cassandra-pid', 0) || node?.pid || 0;
    if (!pid) throw new Error('--cassandra-pid is needed with --contact (the CPU figures come from /proc/<pid>/stat)');
    const cfg = { contactPoints: [contact || `${node!.host}:${node!.port}`], localDataCenter: LOCAL_DATACENTER, keyspace: testKeyspace('costs'), consistency: 'one' };
    await (await openCassandraStore(cfg, { migrate: true })).close();
    const client = createCassandraClient(cfg);
    await client.connect();
    try {
      await seedDedup(client, cfg.keyspace);
      const runs = new Map<Shape['name'], ShapeResult[]>();
      // One warm-up pass (the JIT is not done after a few seconds), then `repeat`
      // passes; each shape's median pass counts.
      for (let k = -1; k < repeat; k++) {
        for (const shape of SHAPES) {
          const r = await measure(client, cfg.keyspace, shape, seconds, pid);
          if (k < 0) continue;
          console.error(`commitlog ${sync}, ${shape.name} (pass ${k + 1}/${repeat}): ${r.rowsPerSec} rows/s, ${r.cassandraUsPerRow} µs/row in Cassandra`);
          runs.set(shape.name, [...(runs.get(shape.name) ?? []), r]);
        }
      }
      const shapes = SHAPES.map((s) => median(runs.get(s.name)!));
      const [a, b, c] = shapes.map((s) => s.cassandraUsPerRow);
      const requestUs = (a - b) / 0.9;
      const mw = b - requestUs / 10;
      const mutationUs = ((mw - c + requestUs / 25) * 25) / 24;
      const costs = { requestUs: round(requestUs), mutationUs: round(mutationUs), rowUs: round(mw - mutationUs) };
      const ceiling: Array<{ messagesPerPartition: number; ratio: number }> = [];
      for (const k of [1, 2.5, 10, 25]) ceiling.push({ messagesPerPartition: k, ratio: round((requestUs + mw) / (mw - mutationUs + mutationUs / k + requestUs / (10 * k))) });
      out[sync] = { shapes, costs, ceiling };
      tables.push({
        title: `Cassandra CPU per row, commit log ${sync} (median of ${repeat} passes of ${seconds} s)`,
        header: ['shape', 'rows/s', 'Cassandra µs/row', 'client µs/row'],
        rows: shapes.map((x) => [x.shape, x.rowsPerSec, x.cassandraUsPerRow, x.clientUsPerRow]),
      });
      notes.push(
        `commit log ${sync}: per request ${costs.requestUs} µs, per mutation ${costs.mutationUs} µs, per row ${costs.rowUs} µs; ` +
          `a dedup lookup of a missing key ${shapes[3].cassandraUsPerRow} µs (from memtables: the partitions were written during the run); ` +
          `best batched/naive ratio by messages per partition per commit: ${ceiling.map((c) => `${c.messagesPerPartition}: ${c.ratio}x`).join(', ')}`,
      );
    } finally {
      await client.shutdown();
      if (node) {
        await node.kill();
        rmSync(dataDir, { recursive: true, force: true });
      }
    }
  }
  finishRun({
    scenario: 'cassandra-costs',
    startedAt,
    machine,
    argv: ['bench', 'cassandra-costs', ...argv],
    flags,
    config: { seconds, repeat, syncs, shapes: SHAPES, rowBytes: 'message row, 200-byte body' },
    figures: out,
    tables,
    charts: [],
    notes,
  });
  return out;
}

let seq = 0;
async function measure(client: cassandra.Client, ks: string, shape: Shape, seconds: number, pid: number): Promise<ShapeResult> {
  const insert =
    `INSERT INTO ${ks}.messages (conversation, bucket, seq, message_id, sender, sender_device, client_msg_id, body, meta, server_ts) ` +
    'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
  const opts = { prepare: true, isIdempotent: true, consistency: cassandra.types.consistencies.one };
  const body = 'x'.repeat(200);
  const lookup = `SELECT seq FROM ${ks}.dedup WHERE conversation = ? AND sender = ? AND client_msg_id = ?`;
  let rows = 0;
  let conv = 0;
  const row = (c: string) => {
    const s = ++seq;
    return [c, Math.floor(s / 1000), s, `m${s}`, 'u1', 'd1', `c${s}`, body, {}, Date.now()];
  };
  const jvm0 = processCpuUs(pid) ?? 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: shape.inflight }, async () => {
      while (performance.now() < deadline) {
        if (shape.name === 'dedup-read') {
          const rs = await client.execute(lookup, [`d${conv++ % DEDUP_PARTITIONS}`, 'u1', `missing-${++seq}`], opts);
          if (rs.rowLength !== 0) throw new Error('a dedup key that was never written was found');
          rows++;
          continue;
        }
        const queries: Array<{ query: string; params: unknown[] }> = [];
        for (let p = 0; p < shape.partitions; p++) {
          // 100,000 conversations: two requests in flight never share a partition.
          const c = `c${conv++ % 100_000}`;
          for (let r = 0; r < shape.rowsPerPartition; r++) queries.push({ query: insert, params: row(c) });
        }
        if (queries.length === 1) await client.execute(insert, queries[0].params, opts);
        else await client.batch(queries, { ...opts, logged: false });
        rows += queries.length;
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    shape: shape.name,
    rowsPerSec: Math.round(rows / elapsed),
    cassandraUsPerRow: round(((processCpuUs(pid) ?? 0) - jvm0) / rows),
    clientUsPerRow: round((cpu.user + cpu.system) / rows),
  };
}

/** 20 keys in each of DEDUP_PARTITIONS (conversation, sender) partitions. */
async function seedDedup(client: cassandra.Client, ks: string): Promise<void> {
  const insert = `INSERT INTO ${ks}.dedup (conversation, sender, client_msg_id, seq) VALUES (?, ?, ?, ?)`;
  const opts = { prepare: true, isIdempotent: true, consistency: cassandra.types.consistencies.one, logged: false };
  for (let p = 0; p < DEDUP_PARTITIONS; p += 16) {
    await Promise.all(
      Array.from({ length: 16 }, (_, j) =>
        client.batch(Array.from({ length: 20 }, (_, k) => ({ query: insert, params: [`d${p + j}`, 'u1', `seen-${k}`, k + 1] })), opts),
      ),
    );
  }
}

function median(rs: ShapeResult[]): ShapeResult {
  return [...rs].sort((x, y) => x.cassandraUsPerRow - y.cassandraUsPerRow)[Math.floor((rs.length - 1) / 2)];
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
