/**
 * How a commit's statements become Cassandra requests: a partition's statements cut
 * into pieces no request may split further (chunk), pieces packed into requests per
 * partition or per replica set (pack, Grouping), and a runner with bounded
 * concurrency (runLimited). The plan of which statements a commit writes, and in
 * which phase, is cassandra_plan.ts; the store sends what these return
 * (cassandra_commit.ts). Defaults of the limits: CassandraStoreOptions.
 */
import type { PartitionWrite, Statement } from './cassandra_plan.js';
export interface ChunkLimits {
  /** Statements per unlogged batch. */
  maxStatements: number;
  /** Partitions per packed (multi-partition) batch; pack() only. */
  maxPartitions?: number;
  /** Approximate payload bytes per batch (strings and map values summed). */
  maxBytes: number;
}

/**
 * Split one partition's statements into pieces no request may split further. A
 * single-partition batch is one mutation the replica applies atomically, so bigger is
 * cheaper, but it must stay far below the commit log's max_mutation_size and the
 * native protocol frame limit (defaults in CassandraStoreOptions).
 */
export function chunk(w: PartitionWrite, limits: ChunkLimits): Statement[][] {
  const out: Statement[][] = [];
  let cur: Statement[] = [];
  let bytes = 0;
  for (const s of w.statements) {
    const size = approxBytes(s);
    if (cur.length > 0 && (cur.length >= limits.maxStatements || bytes + size > limits.maxBytes)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(s);
    bytes += size;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

function approxBytes(s: Statement): number {
  let n = 16;
  for (const p of s.params) {
    if (typeof p === 'string') n += Buffer.byteLength(p);
    else if (p && typeof p === 'object') for (const [k, v] of Object.entries(p)) n += Buffer.byteLength(k) + Buffer.byteLength(String(v));
    else n += 8;
  }
  return n;
}

/**
 * Run tasks with at most `limit` in flight. After the first failure no new task
 * starts; the started ones are awaited (so nothing of this batch is still in flight
 * when the caller retries it), then the first error is thrown.
 */
export async function runLimited(tasks: ReadonlyArray<() => Promise<void>>, limit: number): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | null = null;
  const worker = async () => {
    while (failure === null && next < tasks.length) {
      const task = tasks[next++];
      try {
        await task();
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  if (failure !== null) throw (failure as { err: unknown }).err;
}
/** One request: statements of one or more partitions, routed by the first one's key. */
export interface Request {
  routingKey: Buffer;
  statements: Statement[];
}

/** A chunk of one partition (never split further) and the replica set owning it. */
export interface Piece {
  replicas: string;
  routingKey: Buffer;
  statements: Statement[];
}

/**
 * 'partition': one request per partition piece. 'replica': pieces of partitions that
 * share a replica set share a request. 'auto': a piece of `AUTO_ALONE` or more
 * statements (a busy conversation's bucket) goes alone, the small rest is packed by
 * replica set: a commit over many quiet conversations becomes a handful of requests
 * instead of one per partition, while big single-partition batches keep spreading over
 * the replicas' write threads.
 */
export type Grouping = 'partition' | 'replica' | 'auto';

/** In 'auto' grouping, pieces with at least this many statements get a request of their own. */
export const AUTO_ALONE = 8;

/**
 * Pack pieces into requests. 'partition': one request per piece (an unlogged batch
 * within one partition). 'replica': pieces whose partitions live on the same replica
 * set share a request, up to the chunk limits; the coordinator (a replica, by
 * token-aware routing) applies each partition's part atomically and forwards nothing
 * off its replica set, so one round trip carries many partitions. This is what makes a
 * batch of many small conversations cheap: without it a 256-message batch over 100
 * conversations is ~200 requests.
 */
export function pack(pieces: readonly Piece[], mode: Grouping, limits: ChunkLimits, alone = AUTO_ALONE): Request[] {
  if (mode === 'partition') return pieces.map((p) => ({ routingKey: p.routingKey, statements: p.statements }));
  const open = new Map<string, { req: Request; bytes: number; partitions: number }>();
  const out: Request[] = [];
  const maxPartitions = limits.maxPartitions ?? Infinity;
  for (const p of pieces) {
    if (mode === 'auto' && p.statements.length >= alone) {
      out.push({ routingKey: p.routingKey, statements: p.statements });
      continue;
    }
    const size = p.statements.reduce((n, s) => n + approxBytes(s), 0);
    const cur = open.get(p.replicas);
    if (
      cur &&
      cur.partitions < maxPartitions &&
      cur.req.statements.length + p.statements.length <= limits.maxStatements &&
      cur.bytes + size <= limits.maxBytes
    ) {
      cur.req.statements.push(...p.statements);
      cur.bytes += size;
      cur.partitions += 1;
      continue;
    }
    const req = { routingKey: p.routingKey, statements: [...p.statements] };
    out.push(req);
    open.set(p.replicas, { req, bytes: size, partitions: 1 });
  }
  return out;
}
