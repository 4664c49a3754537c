/**
 * MessageStore on Apache Cassandra (cassandra-driver 4.x): its options, opening it
 * (connect, check or apply the schema) and the store object, which puts the reads
 * (cassandra_reads.ts) and the write path (cassandra_commit.ts, planned by
 * cassandra_plan.ts, packed by cassandra_packing.ts) behind MessageStore. The data
 * model is in ./cassandra_schema/, the reasoning in ./CASSANDRA.md.
 *
 * Durability: `commit` resolves once every statement was acknowledged at the
 * configured consistency (LOCAL_QUORUM in production, ONE on the local test node
 * with its fsync-before-ack commit log). Any doubt rejects with StoreUnavailableError
 * and the batch may be retried as is: every statement is idempotent.
 *
 * Retries: the driver's policy (StoreRetryPolicy, cassandra_client.ts) decides *where*
 * an idempotent request goes again after a connection error (the next host, at once);
 * the store decides *when* to retry timeouts and overload (exponential backoff with
 * jitter, a few attempts: cassandra_failures.ts), because an immediate retry into an
 * overloaded replica only adds to its queue.
 */
import cassandra from 'cassandra-driver';
import type { MessageStore } from './store.js';
import type { Conversation, DeviceCursor, LastSeen, StoredMessage, WriteOp } from './types.js';
import { checkKeyspace, latestVersion, LOCAL_REPLICATION, migrate, schemaVersion, type Replication } from './cassandra_schema/migrate.js';
import { consistencyName, consistencyOf, createCassandraClient, sweepDriverTimers, type CassandraConfig, type ConsistencyName } from './cassandra_client.js';
import { classify, isDriverError, type RetryRule } from './cassandra_failures.js';
import { CassandraReads } from './cassandra_reads.js';
import { CommitPipeline } from './cassandra_commit.js';
import type { Grouping } from './cassandra_packing.js';
import { StoreUnavailableError } from './errors.js';

// The client and its config type were defined here first; their importers keep this path.
export { consistencyName, createCassandraClient, StoreRetryPolicy, type CassandraConfig, type ConsistencyName } from './cassandra_client.js';

export interface CassandraStoreOptions {
  keyspace: string;
  /** Write consistency. Default 'localQuorum' (see CASSANDRA.md). */
  consistency?: ConsistencyName;
  /** Read consistency; default the write one, except EACH_QUORUM reads as LOCAL_QUORUM. */
  readConsistency?: ConsistencyName;
  /**
   * Requests in flight per commit. 32: a 256-op batch of a busy node spans tens of
   * partitions, so 32 covers it in one or two round trips, while a coordinator's
   * native-transport queue stays short enough that one commit does not starve reads.
   */
  concurrency?: number;
  /** Extra attempts after a timeout / overload / no host. Default 3 (4 attempts, ~0.5 s worst case). */
  retries?: number;
  /** First backoff; doubles per attempt, with full jitter. Default 25 ms. */
  retryBaseMs?: number;
  /**
   * How a commit's rows share requests (see pack() in cassandra_packing.ts).
   * 'auto' (default): a partition piece of 8+ statements (a busy conversation) is its
   * own unlogged batch; the small pieces of many quiet conversations are packed per
   * replica set, so a commit over 100 conversations is a few requests, not ~200.
   * 'partition': one unlogged batch per partition. 'replica': everything packed per
   * replica set. Figures: CASSANDRA.md, Measured.
   */
  grouping?: Grouping;
  /**
   * See ChunkLimits in cassandra_packing.ts. Defaults 100 statements / 24 KB: under
   * Cassandra's batch_size_fail_threshold (50 KiB, which counts multi-partition
   * batches) with margin for per-cell overhead our estimate does not count.
   */
  batchMaxStatements?: number;
  batchMaxBytes?: number;
  /**
   * Partitions per packed batch ('auto' / 'replica' grouping). Default 10: Cassandra's
   * unlogged_batch_across_partitions_warn_threshold, so packing logs no warning per
   * request, and a commit's packed rows still spread over several requests (a
   * coordinator applies one request's partitions one after the other).
   */
  batchMaxPartitions?: number;
  /**
   * Message rows are inserted `IF NOT EXISTS`, one conditional batch (a Paxos round)
   * per partition piece, so a seq that holds a message never takes another one: a
   * stale owner's or a forked counter's write is refused (SeqTakenError) instead of
   * overwriting what devices have read. Default true: that is the delivery contract.
   * false restores plain upserts (last write wins) and exists to measure the guard's
   * cost (CASSANDRA.md, Measured), not for production.
   */
  guardSeqs?: boolean;
}

export interface OpenCassandraOptions extends Partial<Omit<CassandraStoreOptions, 'keyspace' | 'consistency'>> {
  /**
   * Apply missing migrations on open (tests, dev, benchmarks). Default false: production
   * runs `npm run migrate` once per deploy and the store only checks the version.
   */
  migrate?: boolean;
  /** Replication for a keyspace created by `migrate: true`. Default SimpleStrategy RF 1. */
  replication?: Replication;
  /**
   * Client-side request timeout (the driver's socketOptions.readTimeout). 5 s: above
   * Cassandra's own write_request_timeout (2 s), so a slow replica surfaces as a
   * server WriteTimeout (which says how many replicas acked) rather than a blind
   * client timeout, and well under a client's send timeout.
   */
  requestTimeoutMs?: number;
}

/**
 * Open a store for the node: connect, check (or apply) the schema, return the store.
 * The store owns the client and shuts it down on close().
 */
export async function openCassandraStore(cfg: CassandraConfig, opts: OpenCassandraOptions = {}): Promise<CassandraStore> {
  const keyspace = checkKeyspace(cfg.keyspace);
  const client = createCassandraClient(cfg, opts);
  try {
    await client.connect();
    if (opts.migrate) {
      await migrate(client, { keyspace, replication: opts.replication ?? LOCAL_REPLICATION });
    } else {
      const have = await schemaVersion(client, keyspace);
      const want = latestVersion();
      if (have < want) {
        throw new Error(`cassandra keyspace ${keyspace} is at schema version ${have}, this build needs ${want}: run \`npm run migrate\``);
      }
    }
    return new CassandraStore(client, { ...opts, keyspace, consistency: consistencyName(cfg.consistency), guardSeqs: cfg.guardSeqs ?? opts.guardSeqs });
  } catch (err) {
    await client.shutdown().catch(() => undefined);
    throw err instanceof Error && !isDriverError(err) ? err : classify(err, `open cassandra store (${cfg.contactPoints.join(', ')})`);
  }
}

export class CassandraStore implements MessageStore {
  readonly kind = 'cassandra';
  readonly keyspace: string;
  private readonly client: cassandra.Client;
  /** Message rows are conditional inserts (see CassandraStoreOptions.guardSeqs). */
  readonly guardSeqs: boolean;
  private readonly reads: CassandraReads;
  private readonly writes: CommitPipeline;
  private closed = false;

  /** Every Host object the driver showed us, for sweepDriverTimers() on close. */
  private readonly seenHosts = new Set<object>();

  /** Takes ownership of a connected (or connectable) client; the schema must be in place. */
  constructor(client: cassandra.Client, opts: CassandraStoreOptions) {
    this.client = client;
    for (const h of client.hosts?.values() ?? []) this.seenHosts.add(h);
    client.on('hostAdd', (h: object) => this.seenHosts.add(h));
    this.keyspace = checkKeyspace(opts.keyspace);
    const write = opts.consistency ?? 'localQuorum';
    const writeCl = consistencyOf(write);
    const readCl = consistencyOf(opts.readConsistency ?? (write === 'eachQuorum' ? 'localQuorum' : write));
    // The Paxos round of a conditional insert: LOCAL_SERIAL (a quorum of the local DC)
    // with a local write consistency; SERIAL (a quorum of all replicas) when writes
    // already wait for other DCs. A conversation's writer is one node of one cell, so
    // the local quorum is what serializes it against a stale owner of the same cell.
    const serialCl = write === 'quorum' || write === 'eachQuorum' || write === 'all' ? cassandra.types.consistencies.serial : cassandra.types.consistencies.localSerial;
    this.guardSeqs = opts.guardSeqs ?? true;
    const concurrency = positive('concurrency', opts.concurrency ?? 32);
    const retry: RetryRule = {
      retries: Math.max(0, Math.trunc(opts.retries ?? 3)),
      retryBaseMs: Math.max(0, opts.retryBaseMs ?? 25),
      closed: () => this.closed,
    };
    const limits = {
      maxStatements: positive('batchMaxStatements', opts.batchMaxStatements ?? 100),
      maxBytes: positive('batchMaxBytes', opts.batchMaxBytes ?? 24 * 1024),
      maxPartitions: positive('batchMaxPartitions', opts.batchMaxPartitions ?? 10),
    };
    const grouping: Grouping = opts.grouping ?? 'auto';
    const assertOpen = (): void => this.assertOpen();
    this.reads = new CassandraReads(client, this.keyspace, { readCl, concurrency, retry, assertOpen });
    this.writes = new CommitPipeline(client, this.keyspace, {
      writeCl,
      serialCl,
      guardSeqs: this.guardSeqs,
      concurrency,
      limits,
      grouping,
      retry,
      bounds: (conversation) => this.reads.bounds(conversation),
      assertOpen,
    });
  }

  /** Make `ops` durable; concurrent commits behave as if run one at a time in call order (CommitPipeline.commit). */
  commit(ops: WriteOp[]): Promise<void> {
    return this.writes.commit(ops);
  }

  getConversation(id: string): Promise<Conversation | null> {
    return this.reads.getConversation(id);
  }

  getPresence(users: string[]): Promise<LastSeen[]> {
    return this.reads.getPresence(users);
  }

  listUserConversations(user: string): Promise<string[]> {
    return this.reads.listUserConversations(user);
  }

  lastSeq(conversation: string): Promise<number> {
    return this.reads.lastSeq(conversation);
  }

  firstSeq(conversation: string): Promise<number> {
    return this.reads.firstSeq(conversation);
  }

  findByClientMsgId(conversation: string, sender: string, clientMsgId: string): Promise<StoredMessage | null> {
    return this.reads.findByClientMsgId(conversation, sender, clientMsgId);
  }

  readAfter(conversation: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    return this.reads.readAfter(conversation, afterSeq, limit);
  }

  readBefore(conversation: string, beforeSeq: number, limit: number): Promise<StoredMessage[]> {
    return this.reads.readBefore(conversation, beforeSeq, limit);
  }

  getCursors(conversation: string): Promise<DeviceCursor[]> {
    return this.reads.getCursors(conversation);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.shutdown();
    sweepDriverTimers(this.client, this.seenHosts);
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreUnavailableError(`cassandra store ${this.keyspace} is closed`);
  }
}

function positive(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`CassandraStore option ${name} must be a positive integer, got ${v}`);
  return v;
}
