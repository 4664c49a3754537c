/**
 * MessageStore on Apache Cassandra (cassandra-driver 4.x). The data model is in
 * ./cassandra_schema/ (001_initial.cql, 002_groups_presence.cql), the write path in ./cassandra_writer.ts, and
 * the reasoning for both in ./CASSANDRA.md.
 *
 * Durability: `commit` resolves once every statement was acknowledged at the
 * configured consistency (LOCAL_QUORUM in production, ONE on the local test node
 * with its fsync-before-ack commit log). Any doubt rejects with StoreUnavailableError
 * and the batch may be retried as is: every statement is idempotent.
 *
 * Retries: the driver's policy (StoreRetryPolicy) decides *where* an idempotent
 * request goes again after a connection error (the next host, at once); the store
 * decides *when* to retry timeouts and overload (exponential backoff with jitter, a
 * few attempts), because an immediate retry into an overloaded replica only adds to
 * its queue.
 */
import cassandra from 'cassandra-driver';
import { applyCassandraDriverFix } from './cassandra_driver_fix.js';
import type { MessageStore } from './store.js';
import type { Conversation, ConversationKind, DeviceCursor, LastSeen, Role, StoredMessage, WriteOp } from './types.js';
import { InvalidWriteError, SeqTakenError, StoreUnavailableError } from './errors.js';
import {
  BUCKET_SIZE,
  bucketOf,
  chunk,
  messageRowOf,
  pack,
  planCommit,
  runLimited,
  trimStatements,
  writeQueries,
  type ChunkLimits,
  type Grouping,
  type MessageChain,
  type PartitionWrite,
  type Piece,
  type Request,
  type Statement,
  type WriteQueries,
} from './cassandra_writer.js';
import { checkKeyspace, latestVersion, LOCAL_REPLICATION, migrate, schemaVersion, type Replication } from './cassandra_schema/migrate.js';

export type ConsistencyName = 'one' | 'localOne' | 'quorum' | 'localQuorum' | 'eachQuorum' | 'all';

/** The node config's `store.cassandra` section (node/config.ts). */
export interface CassandraConfig {
  contactPoints: string[];
  localDataCenter: string;
  keyspace: string;
  consistency: string;
  /** CassandraStoreOptions.guardSeqs; when set, it wins over openCassandraStore's option. Absent: true. */
  guardSeqs?: boolean;
}

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
   * How a commit's rows share requests (see pack() in cassandra_writer.ts).
   * 'auto' (default): a partition piece of 8+ statements (a busy conversation) is its
   * own unlogged batch; the small pieces of many quiet conversations are packed per
   * replica set, so a commit over 100 conversations is a few requests, not ~200.
   * 'partition': one unlogged batch per partition. 'replica': everything packed per
   * replica set. Figures: CASSANDRA.md, Measured.
   */
  grouping?: Grouping;
  /**
   * See ChunkLimits in cassandra_writer.ts. Defaults 100 statements / 24 KB: under
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

const MESSAGE_COLUMNS = 'conversation, seq, message_id, sender, sender_device, client_msg_id, body, meta, server_ts';

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

/** A driver client with Switchboard's policies; not connected yet. */
export function createCassandraClient(
  cfg: Pick<CassandraConfig, 'contactPoints' | 'localDataCenter' | 'consistency'>,
  opts: Pick<OpenCassandraOptions, 'requestTimeoutMs'> = {},
): cassandra.Client {
  applyCassandraDriverFix();
  return new cassandra.Client({
    contactPoints: cfg.contactPoints,
    localDataCenter: cfg.localDataCenter,
    queryOptions: { consistency: consistencyOf(consistencyName(cfg.consistency)), prepare: true },
    socketOptions: { readTimeout: opts.requestTimeoutMs ?? 5000, connectTimeout: 2000 },
    policies: {
      retry: new StoreRetryPolicy(),
      // 100 ms doubling to 2 s: a restarted node is back in use within ~2 s of
      // answering, instead of the driver default's up to 10 min.
      reconnection: new cassandra.policies.reconnection.ExponentialReconnectionPolicy(100, 2000, false),
    },
  });
}

export class CassandraStore implements MessageStore {
  readonly kind = 'cassandra';
  readonly keyspace: string;
  private readonly client: cassandra.Client;
  private readonly wq: WriteQueries;
  private readonly rq: ReturnType<typeof readQueries>;
  private readonly writeCl: number;
  private readonly readCl: number;
  private readonly serialCl: number;
  /** Message rows are conditional inserts (see CassandraStoreOptions.guardSeqs). */
  readonly guardSeqs: boolean;
  /** Whether 001's dedup table may still hold live keys (probed once, see legacyKeys()). */
  private legacyDedup: Promise<boolean> | null = null;
  private readonly concurrency: number;
  private readonly retries: number;
  private readonly retryBaseMs: number;
  private readonly limits: ChunkLimits;
  private readonly grouping: Grouping;
  private closed = false;
  // Concurrent commits (see commit()): per-conversation message tails, the outcome
  // chain, how many commits are running, and the failure that poisons them.
  private readonly tails = new Map<string, Promise<void>>();
  private reported: Promise<void> = Promise.resolve();
  private active = 0;
  private unreported = 0;
  private idleWaiters: Array<() => void> = [];
  private failure: { err: unknown } | null = null;
  private lastTimestamp = 0;
  /**
   * Newest last_seq hint bucket this store wrote per conversation. Bounded by the
   * conversations this process writes to; cleared when it grows past 100 000 entries
   * (a miss only costs one idempotent hint write).
   */
  private readonly hintBuckets = new Map<string, number>();

  /** Every Host object the driver showed us, for sweepDriverTimers() on close. */
  private readonly seenHosts = new Set<object>();

  /** Takes ownership of a connected (or connectable) client; the schema must be in place. */
  constructor(client: cassandra.Client, opts: CassandraStoreOptions) {
    this.client = client;
    for (const h of client.hosts?.values() ?? []) this.seenHosts.add(h);
    client.on('hostAdd', (h: object) => this.seenHosts.add(h));
    this.keyspace = checkKeyspace(opts.keyspace);
    this.wq = writeQueries(this.keyspace);
    this.rq = readQueries(this.keyspace);
    const write = opts.consistency ?? 'localQuorum';
    this.writeCl = consistencyOf(write);
    this.readCl = consistencyOf(opts.readConsistency ?? (write === 'eachQuorum' ? 'localQuorum' : write));
    // The Paxos round of a conditional insert: LOCAL_SERIAL (a quorum of the local DC)
    // with a local write consistency; SERIAL (a quorum of all replicas) when writes
    // already wait for other DCs. A conversation's writer is one node of one cell, so
    // the local quorum is what serializes it against a stale owner of the same cell.
    this.serialCl = write === 'quorum' || write === 'eachQuorum' || write === 'all' ? cassandra.types.consistencies.serial : cassandra.types.consistencies.localSerial;
    this.guardSeqs = opts.guardSeqs ?? true;
    this.concurrency = positive('concurrency', opts.concurrency ?? 32);
    this.retries = Math.max(0, Math.trunc(opts.retries ?? 3));
    this.retryBaseMs = Math.max(0, opts.retryBaseMs ?? 25);
    this.limits = {
      maxStatements: positive('batchMaxStatements', opts.batchMaxStatements ?? 100),
      maxBytes: positive('batchMaxBytes', opts.batchMaxBytes ?? 24 * 1024),
      maxPartitions: positive('batchMaxPartitions', opts.batchMaxPartitions ?? 10),
    };
    this.grouping = opts.grouping ?? 'auto';
  }

  /**
   * Make `ops` durable. Commits may be called concurrently (a BatchWriter with
   * concurrency > 1): the store then behaves as if they ran one at a time in call order,
   * while overlapping their round trips.
   *   - One write timestamp per commit, increasing in call order, so last-write-wins
   *     cells (members, subject, hidden, dedup keys) resolve in call order whatever
   *     order the requests land in.
   *   - Phase 1 (keys, hints, metadata) of a commit runs at once. Its message rows and
   *     trims wait until every earlier commit touching the same conversations stored its
   *     own: a conversation's rows land in seq order, and a commit whose predecessor
   *     failed on one of its conversations writes none of its rows.
   *   - Outcomes are reported in call order.
   *   - The first failure poisons the pipeline: commits still running start no new
   *     request and fail; commits called while poisoned fail without writing; and no
   *     outcome is reported until none is running. So when a caller learns of a failure
   *     (and reloads its counters from lastSeq()), nothing of any earlier commit is in
   *     flight, and no seq assigned before the failure can land above a failed one. The
   *     poison lifts with the last of these outcomes: a commit called after that is
   *     tried normally (as with one commit at a time, where the BatchWriter's
   *     fail-queued has rejected whatever was queued behind the failure).
   */
  async commit(ops: WriteOp[]): Promise<void> {
    this.assertOpen();
    if (ops.length === 0) return;
    const previous = this.reported;
    let reportedMine!: () => void;
    this.reported = new Promise<void>((r) => (reportedMine = r));
    this.active++;
    this.unreported++;
    let error: { err: unknown } | null = null;
    try {
      if (this.failure) throw new StoreUnavailableError('not attempted: an earlier cassandra batch failed');
      await this.apply(ops, this.nextTimestamp());
    } catch (err) {
      error = { err };
      this.failure ??= { err };
    } finally {
      if (--this.active === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
    try {
      await previous;
      if (this.failure) await this.idle();
    } finally {
      // The last outcome of a poisoned run lifts the poison: every commit called
      // before this point has failed or succeeded and none is running.
      if (--this.unreported === 0) this.failure = null;
      reportedMine();
    }
    if (error) throw classify(error.err, `cassandra batch of ${ops.length} ops`);
  }

  /** One commit's three phases (see cassandra_writer.ts), ordered against earlier commits per conversation. */
  private async apply(ops: WriteOp[], timestamp: number): Promise<void> {
    const plan = planCommit(ops, this.wq, (conversation, seq) => (this.hintBuckets.get(conversation) ?? -1) >= bucketOf(seq), { guardSeqs: this.guardSeqs });
    // Claim this commit's place in every touched conversation's tail now, in call order.
    const conversations = new Set([...plan.messages.map((chain) => chain.conversation), ...plan.trims.map((t) => t.conversation)]);
    const waits: Promise<void>[] = [];
    let settle!: (err?: unknown) => void;
    const mine = new Promise<void>((resolve, reject) => (settle = (err) => (err === undefined ? resolve() : reject(err))));
    mine.catch(() => undefined);
    for (const c of conversations) {
      const before = this.tails.get(c);
      if (before) waits.push(before);
      this.tails.set(c, mine);
    }
    try {
      await this.send(plan.before.flatMap((w) => this.pieces(w)), timestamp);
      // Phase 1 is durable: remember the hints' buckets (last_seq only grows, so this
      // process-local cache can only be behind the stored value, never ahead).
      if (this.hintBuckets.size > 100_000) this.hintBuckets.clear();
      for (const w of plan.before) {
        for (const s of w.statements) {
          if (s.query !== this.wq.raiseLastSeq) continue;
          const [seq, , conversation] = s.params as [number, number, string];
          this.hintBuckets.set(conversation, Math.max(this.hintBuckets.get(conversation) ?? -1, bucketOf(seq)));
        }
      }
      // Earlier commits' rows of these conversations first; a failed one fails us.
      await Promise.all(waits).catch(() => {
        throw new StoreUnavailableError('not attempted: an earlier cassandra batch of the same conversations failed');
      });
      this.checkPoison();
      await this.writeMessages(plan.messages, timestamp);
      if (plan.trims.length > 0) {
        const deletes = await Promise.all(
          plan.trims.map(async (t) => trimStatements(this.wq, t.conversation, (await this.bounds(t.conversation)).first, t.firstSeq)),
        );
        // A timestamp taken now, not the commit's: guarded message rows carry the Paxos
        // ballot's timestamp (taken by Cassandra when they were written, after this
        // commit's timestamp), and a delete only shadows cells that are not newer.
        await this.send(deletes.flat().flatMap((w) => this.pieces(w)), this.nextTimestamp());
      }
      settle();
    } catch (err) {
      this.failure ??= { err };
      settle(err);
      throw err;
    } finally {
      for (const c of conversations) if (this.tails.get(c) === mine) this.tails.delete(c);
    }
  }

  /**
   * Phase 2: every conversation's message pieces, round r carrying the r-th piece of
   * each chain (a conversation's pieces land strictly in seq order, different
   * conversations share rounds), then the metadata of each conversation whose pieces
   * are all stored. That metadata is written even when another conversation's piece
   * failed (and past the poison): its messages are stored, and a membership change
   * must not stay missing behind its system message. A failure is thrown after it.
   */
  private async writeMessages(chains: MessageChain[], timestamp: number): Promise<void> {
    const state = chains.map((chain) => ({ chain, pieces: chain.partitions.flatMap((w) => this.pieces(w)), stored: 0 }));
    let failure: { err: unknown } | null = null;
    for (let r = 0; failure === null && state.some((c) => c.pieces.length > r); r++) {
      const round = state.filter((c) => c.pieces.length > r);
      try {
        if (this.guardSeqs) {
          // A conditional batch cannot span partitions: one request per piece.
          await runLimited(
            round.map((c) => async () => {
              this.checkPoison();
              try {
                await this.writeGuarded(c.chain.conversation, c.pieces[r]);
              } catch (err) {
                this.failure ??= { err };
                throw err;
              }
              c.stored++;
            }),
            this.concurrency,
          );
        } else {
          // Packed requests mix conversations: a round counts only when all of it is stored.
          await this.send(round.map((c) => c.pieces[r]), timestamp);
          for (const c of round) c.stored++;
        }
      } catch (err) {
        failure = { err };
      }
    }
    const complete = state.filter((c) => c.stored === c.pieces.length && c.chain.after.length > 0);
    if (complete.length > 0) {
      try {
        await this.send(complete.flatMap((c) => c.chain.after.flatMap((w) => this.pieces(w))), timestamp, true);
      } catch (err) {
        this.failure ??= { err };
        failure ??= { err };
      }
    }
    if (failure !== null) throw failure.err;
  }

  /** Microseconds, strictly increasing per store: the write timestamp of one commit. */
  private nextTimestamp(): number {
    this.lastTimestamp = Math.max(Date.now() * 1000, this.lastTimestamp + 1);
    return this.lastTimestamp;
  }

  private checkPoison(): void {
    if (this.failure) throw new StoreUnavailableError('stopped: a concurrent cassandra batch failed');
  }

  private idle(): Promise<void> {
    return this.active === 0 ? Promise.resolve() : new Promise((r) => this.idleWaiters.push(r));
  }

  /** A partition's statements cut to batch size, tagged with the replicas that own it. */
  private pieces(w: PartitionWrite): Piece[] {
    let replicas = '';
    if (this.grouping !== 'partition') {
      // No token map yet (metadata still loading): one group, any coordinator; still correct.
      const hosts = this.client.getReplicas(this.keyspace, w.routingKey) ?? [];
      replicas = hosts.map((h) => h.address).sort().join(',');
    }
    return chunk(w, this.limits).map((statements) => ({ replicas, routingKey: w.routingKey, statements }));
  }

  /**
   * Pack pieces into requests and run them, at most `concurrency` in flight; none starts
   * once poisoned, unless `completing` (metadata of messages already stored: it must
   * follow them whatever else failed).
   */
  private send(pieces: Piece[], timestamp: number, completing = false): Promise<void> {
    const requests = pack(pieces, this.grouping, this.limits);
    return runLimited(
      requests.map((req) => async () => {
        if (!completing) this.checkPoison();
        try {
          await this.write(req, timestamp, completing);
        } catch (err) {
          // Poison at once, so concurrent commits stop starting requests.
          this.failure ??= { err };
          throw err;
        }
      }),
      this.concurrency,
    );
  }

  async getConversation(id: string): Promise<Conversation | null> {
    const row = (await this.read(this.rq.conversation, [id])).first();
    if (!row || row.get('kind') == null) return null;
    const [members, formerRows] = await Promise.all([this.readAll(this.rq.members, [id]), this.readAll(this.rq.former, [id])]);
    const conv: Conversation = {
      id,
      kind: row.get('kind') as ConversationKind,
      members: members.map((m) => ({ user: m.get('user') as string, role: m.get('role') as Role })),
      createdAt: num(row.get('created_at')) ?? 0,
      subject: (row.get('subject') as string | null) ?? '',
    };
    // A re-added user's former row is not deleted (it is a max-register, see
    // 002_groups_presence.cql): being a member again is what ends being former.
    const memberSet = new Set(conv.members.map((m) => m.user));
    const former = formerRows
      .filter((r) => !memberSet.has(r.get('user') as string))
      .map((r) => ({ user: r.get('user') as string, untilSeq: num(r.get('until_seq')) ?? 0 }));
    if (former.length > 0) conv.former = former;
    return conv;
  }

  async getPresence(users: string[]): Promise<LastSeen[]> {
    this.assertOpen();
    const out: LastSeen[] = [];
    // One single-partition read per user (token-aware, spread over replicas) rather than
    // a multi-partition IN, which would make one coordinator fan out and wait for all.
    await runLimited(
      [...new Set(users)].map((user) => async () => {
        const row = (await this.read(this.rq.presence, [user])).first();
        if (!row) return;
        out.push({ user, at: num(row.get('last_seen')) ?? 0, hidden: row.get('hide_last_seen') === true });
      }),
      this.concurrency,
    );
    return out;
  }

  async listUserConversations(user: string): Promise<string[]> {
    return (await this.readAll(this.rq.userConversations, [user])).map((r) => r.get('conversation') as string);
  }

  async lastSeq(conversation: string): Promise<number> {
    const { first, hint } = await this.bounds(conversation);
    // The hint's bucket is never below a stored seq's (it is written before the
    // messages); walk down from it past any bucket a failed batch announced but never filled.
    for (let b = bucketOf(hint); hint > 0 && b >= bucketOf(first); b--) {
      const row = (await this.read(this.rq.maxSeqInBucket, [conversation, b])).first();
      if (row) {
        const seq = num(row.get('seq')) ?? 0;
        return seq >= first ? seq : 0;
      }
    }
    return 0;
  }

  async firstSeq(conversation: string): Promise<number> {
    return (await this.bounds(conversation)).first;
  }

  async findByClientMsgId(conversation: string, sender: string, clientMsgId: string): Promise<StoredMessage | null> {
    // Every seq a commit tried for this key (003_dedup_seqs.cql), ascending; almost
    // always one. The answer is the message that really is this sender's
    // client_msg_id: a key whose seq holds another message (a refused or failed write
    // whose seq went to someone else) finds nothing, rather than someone else's message.
    const keys = await this.read(this.rq.dedup, [conversation, sender, clientMsgId]);
    const found = await this.firstOwn(conversation, sender, clientMsgId, keys.rows);
    if (found || !(await this.legacyKeys())) return found;
    return this.firstOwn(conversation, sender, clientMsgId, (await this.read(this.rq.legacyDedup, [conversation, sender, clientMsgId])).rows);
  }

  /** The first message, among the keys' seqs, that has this sender and client_msg_id. */
  private async firstOwn(conversation: string, sender: string, clientMsgId: string, keys: cassandra.types.Row[]): Promise<StoredMessage | null> {
    for (const key of keys) {
      const seq = num(key.get('seq'));
      if (seq === null) continue;
      const row = (await this.read(this.rq.messageAt, [conversation, bucketOf(seq), seq])).first();
      if (!row) continue; // trimmed, or the key of a write that failed before its message
      const m = toMessage(row);
      if (m.sender === sender && m.clientMsgId === clientMsgId) return m;
    }
    return null;
  }

  /**
   * Whether 001's dedup table may still hold live keys (written before migration 003;
   * they expire with its 7-day TTL), probed once per store. While it may, a miss in
   * dedup_seqs also reads it, so a resend of a message stored before the upgrade is
   * still found. A probe that fails counts as "may": one extra read beats a duplicate.
   */
  private legacyKeys(): Promise<boolean> {
    this.legacyDedup ??= this.read(this.rq.anyLegacyDedup, []).then(
      (rs) => rs.rowLength > 0,
      () => true,
    );
    return this.legacyDedup;
  }

  async readAfter(conversation: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    checkLimit('readAfter', limit);
    if (limit === 0) return [];
    const { first, hint } = await this.bounds(conversation);
    const from = Math.max(Math.floor(afterSeq) + 1, first);
    const out: StoredMessage[] = [];
    for (let b = bucketOf(from); b <= bucketOf(hint) && out.length < limit; b++) {
      const rs = await this.read(this.rq.after, [conversation, b, from, limit - out.length], limit);
      for (const row of rs.rows) out.push(toMessage(row));
    }
    return out;
  }

  async readBefore(conversation: string, beforeSeq: number, limit: number): Promise<StoredMessage[]> {
    checkLimit('readBefore', limit);
    if (limit === 0) return [];
    const { first, hint } = await this.bounds(conversation);
    // The hint names the newest bucket, not the newest seq: anything in that bucket may exist.
    const to = Math.min(Math.ceil(beforeSeq) - 1, (bucketOf(hint) + 1) * BUCKET_SIZE - 1);
    const out: StoredMessage[] = [];
    for (let b = bucketOf(to); to >= first && b >= bucketOf(first) && out.length < limit; b--) {
      const rs = await this.read(this.rq.before, [conversation, b, to, first, limit - out.length], limit);
      for (const row of rs.rows) out.push(toMessage(row));
    }
    return out;
  }

  async getCursors(conversation: string): Promise<DeviceCursor[]> {
    return (await this.readAll(this.rq.cursors, [conversation])).map((r) => ({
      conversation,
      user: r.get('user') as string,
      device: r.get('device') as string,
      delivered: num(r.get('delivered_seq')) ?? 0,
      read: num(r.get('read_seq')) ?? 0,
    }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.shutdown();
    sweepDriverTimers(this.client, this.seenHosts);
  }

  /** first_seq (1 when never trimmed) and the last_seq hint (0 when no message). */
  private async bounds(conversation: string): Promise<{ first: number; hint: number }> {
    const row = (await this.read(this.rq.bounds, [conversation])).first();
    return { first: num(row?.get('first_seq')) ?? 1, hint: num(row?.get('last_seq')) ?? 0 };
  }

  /** One request (a lone statement or an unlogged batch), routed to a replica, with backoff retries. */
  private write(req: Request, timestamp: number, completing = false): Promise<void> {
    const options = { prepare: true, isIdempotent: true, consistency: this.writeCl, logged: false, routingKey: req.routingKey, timestamp };
    return this.withRetry(async () => {
      // A retry after a backoff is a new request: none once a concurrent commit failed.
      if (!completing) this.checkPoison();
      const [only] = req.statements;
      if (req.statements.length === 1) await this.client.execute(only.query, only.params, options);
      else await this.client.batch(req.statements, options);
    });
  }

  /**
   * One piece of a conversation's message rows as a conditional batch (every insert
   * IF NOT EXISTS, one partition), with backoff retries. Not applied, Cassandra returns
   * the rows that exist at our seqs: a row with our message_id is ours (an earlier
   * attempt that timed out on the client, or the same message committed again) and
   * counts as stored; the rest of the piece is tried again. A row with another
   * message_id is a SeqTakenError: nothing of this piece was written.
   */
  private async writeGuarded(conversation: string, piece: Piece): Promise<void> {
    // No `timestamp`: Cassandra ignores it on a conditional batch (the row gets the
    // Paxos ballot's); serialConsistency is the Paxos round's, consistency its commit's.
    const options = { prepare: true, isIdempotent: true, consistency: this.writeCl, serialConsistency: this.serialCl, routingKey: piece.routingKey };
    let statements: Statement[] = piece.statements;
    // Each pass stores the piece or removes at least one of its rows from it.
    for (let pass = 0; statements.length > 0 && pass <= piece.statements.length; pass++) {
      const batch = statements;
      const rs = await this.withRetry(() => {
        this.checkPoison();
        return batch.length === 1 ? this.client.execute(batch[0].query, batch[0].params, options) : this.client.batch(batch, options);
      });
      if (rs.wasApplied()) return;
      const stored = new Map<number, string>();
      for (const row of rs.rows) stored.set(num(row.get('seq')) ?? 0, row.get('message_id') as string);
      const rest: Statement[] = [];
      for (const s of batch) {
        const { seq, messageId } = messageRowOf(s);
        const there = stored.get(seq);
        if (there === undefined) rest.push(s);
        else if (there !== messageId) throw new SeqTakenError(conversation, seq, there, messageId);
      }
      if (rest.length === batch.length) break;
      statements = rest;
    }
    if (statements.length > 0) {
      throw new StoreUnavailableError(`cassandra conditional batch of ${conversation} was not applied and named no stored row`);
    }
  }

  private read(query: string, params: unknown[], fetchSize = 5000): Promise<cassandra.types.ResultSet> {
    this.assertOpen();
    const options = { prepare: true, isIdempotent: true, consistency: this.readCl, fetchSize: Math.max(1, fetchSize) };
    return this.withRetry(() => this.client.execute(query, params, options)).catch((err: unknown) => {
      throw classify(err, 'cassandra read');
    });
  }

  /** Every row of a partition, following pages. */
  private async readAll(query: string, params: unknown[]): Promise<cassandra.types.Row[]> {
    this.assertOpen();
    const rows: cassandra.types.Row[] = [];
    let pageState: string | undefined;
    do {
      const options = { prepare: true, isIdempotent: true, consistency: this.readCl, fetchSize: 1000, pageState };
      const rs = await this.withRetry(() => this.client.execute(query, params, options)).catch((err: unknown) => {
        throw classify(err, 'cassandra read');
      });
      rows.push(...rs.rows);
      pageState = rs.pageState ?? undefined;
    } while (pageState);
    return rows;
  }

  private async withRetry<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (this.closed || attempt >= this.retries || !isTransient(err)) throw err;
        await sleep(Math.random() * this.retryBaseMs * 2 ** attempt);
      }
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreUnavailableError(`cassandra store ${this.keyspace} is closed`);
  }
}

/**
 * Driver retry policy: on a broken connection or an Unavailable answer, an idempotent
 * request goes once to the next host of the plan (another coordinator may reach the
 * replicas). Timeouts are rethrown so the store retries them after a backoff.
 */
export class StoreRetryPolicy extends cassandra.policies.retry.RetryPolicy {
  /** "Same consistency as before": the driver reads undefined that way, its typings do not. */
  private static readonly SAME = undefined as unknown as cassandra.types.consistencies;

  override onReadTimeout(): cassandra.policies.retry.DecisionInfo {
    return this.rethrowResult();
  }

  override onWriteTimeout(): cassandra.policies.retry.DecisionInfo {
    return this.rethrowResult();
  }

  override onUnavailable(info: cassandra.policies.retry.OperationInfo): cassandra.policies.retry.DecisionInfo {
    return info.nbRetry === 0 ? this.retryResult(StoreRetryPolicy.SAME, false) : this.rethrowResult();
  }

  override onRequestError(info: cassandra.policies.retry.OperationInfo): cassandra.policies.retry.DecisionInfo {
    return info.nbRetry === 0 && info.executionOptions.isIdempotent() ? this.retryResult(StoreRetryPolicy.SAME, false) : this.rethrowResult();
  }
}

function readQueries(ks: string) {
  return {
    conversation: `SELECT kind, created_at, subject FROM ${ks}.conversations WHERE id = ?`,
    bounds: `SELECT first_seq, last_seq FROM ${ks}.conversations WHERE id = ?`,
    members: `SELECT user, role FROM ${ks}.members WHERE conversation = ?`,
    former: `SELECT user, until_seq FROM ${ks}.former_members WHERE conversation = ?`,
    presence: `SELECT last_seen, hide_last_seen FROM ${ks}.presence WHERE user = ?`,
    userConversations: `SELECT conversation FROM ${ks}.user_conversations WHERE user = ?`,
    maxSeqInBucket: `SELECT seq FROM ${ks}.messages WHERE conversation = ? AND bucket = ? ORDER BY seq DESC LIMIT 1`,
    dedup: `SELECT seq FROM ${ks}.dedup_seqs WHERE conversation = ? AND sender = ? AND client_msg_id = ?`,
    // 001's table: read after a miss while it may still hold live keys (003_dedup_seqs.cql).
    legacyDedup: `SELECT seq FROM ${ks}.dedup WHERE conversation = ? AND sender = ? AND client_msg_id = ?`,
    anyLegacyDedup: `SELECT seq FROM ${ks}.dedup LIMIT 1`,
    messageAt: `SELECT ${MESSAGE_COLUMNS} FROM ${ks}.messages WHERE conversation = ? AND bucket = ? AND seq = ?`,
    after: `SELECT ${MESSAGE_COLUMNS} FROM ${ks}.messages WHERE conversation = ? AND bucket = ? AND seq >= ? LIMIT ?`,
    before:
      `SELECT ${MESSAGE_COLUMNS} FROM ${ks}.messages WHERE conversation = ? AND bucket = ? AND seq <= ? AND seq >= ? ` +
      'ORDER BY seq DESC LIMIT ?',
    cursors: `SELECT user, device, delivered_seq, read_seq FROM ${ks}.cursors WHERE conversation = ?`,
  };
}

function toMessage(row: cassandra.types.Row): StoredMessage {
  const meta = row.get('meta') as Record<string, string> | null;
  return {
    conversation: row.get('conversation') as string,
    seq: num(row.get('seq')) ?? 0,
    messageId: row.get('message_id') as string,
    sender: row.get('sender') as string,
    senderDevice: row.get('sender_device') as string,
    clientMsgId: row.get('client_msg_id') as string,
    body: row.get('body') as string,
    meta: meta ? { ...meta } : {},
    serverTs: num(row.get('server_ts')) ?? 0,
  };
}

/** bigint columns come back as Long; every value Switchboard stores fits 2^53. */
function num(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') return v;
  return (v as cassandra.types.Long).toNumber();
}

const CONSISTENCIES: Record<ConsistencyName, number> = {
  one: cassandra.types.consistencies.one,
  localOne: cassandra.types.consistencies.localOne,
  quorum: cassandra.types.consistencies.quorum,
  localQuorum: cassandra.types.consistencies.localQuorum,
  eachQuorum: cassandra.types.consistencies.eachQuorum,
  all: cassandra.types.consistencies.all,
};

export function consistencyName(s: string): ConsistencyName {
  if (!(s in CONSISTENCIES)) throw new Error(`unknown cassandra consistency ${JSON.stringify(s)} (one of ${Object.keys(CONSISTENCIES).join(', ')})`);
  return s as ConsistencyName;
}

function consistencyOf(name: ConsistencyName): number {
  return CONSISTENCIES[name];
}

const codes = cassandra.types.responseErrorCodes;
const TRANSIENT_CODES: ReadonlySet<number> = new Set([
  codes.writeTimeout,
  codes.readTimeout,
  codes.unavailableException,
  codes.overloaded,
  codes.isBootstrapping,
]);
const INVALID_CODES: ReadonlySet<number> = new Set([codes.syntaxError, codes.invalid]);

function isDriverError(err: unknown): boolean {
  return err instanceof cassandra.errors.DriverError;
}

/** Worth another attempt after a pause: the cluster may answer differently soon. */
function isTransient(err: unknown): boolean {
  if (err instanceof cassandra.errors.ResponseError) return TRANSIENT_CODES.has(err.code);
  return (
    err instanceof cassandra.errors.OperationTimedOutError ||
    err instanceof cassandra.errors.NoHostAvailableError ||
    err instanceof cassandra.errors.BusyConnectionError
  );
}

/**
 * Map a driver failure onto the store's closed catalog: a malformed request or a
 * value the driver cannot encode is the caller's bug (InvalidWriteError, terminal);
 * everything else means durability is unknown (StoreUnavailableError, retryable).
 */
function classify(err: unknown, what: string): Error {
  if (err instanceof StoreUnavailableError || err instanceof InvalidWriteError || err instanceof SeqTakenError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof cassandra.errors.ResponseError && INVALID_CODES.has(err.code)) {
    return new InvalidWriteError(`${what} was refused as invalid: ${message}`, { cause: err });
  }
  if (err instanceof TypeError || err instanceof RangeError) {
    return new InvalidWriteError(`${what} has a value the driver cannot encode: ${message}`, { cause: err });
  }
  return new StoreUnavailableError(`${what} failed: ${message}`, { cause: err });
}

function checkLimit(method: string, limit: number): void {
  if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`${method}: limit must be a non-negative integer, got ${limit}`);
}

function positive(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`CassandraStore option ${name} must be a positive integer, got ${v}`);
  return v;
}

/**
 * cassandra-driver 4.10 can leave timers behind after shutdown() when its node was
 * killed and came back: the chaos test found a second Host object for the same
 * address, no longer in client.hosts (so shutdown() never reached it), with a
 * `_healthResponseCountTimer` interval and a pool `_newConnectionTimeout` that re-arms
 * every reconnection delay. Either keeps the process alive. So shut down every Host
 * the store has seen (shutdown is idempotent), now and again a little later on unref'd
 * timers, which only fire if something else keeps the process running anyway.
 */
function sweepDriverTimers(client: cassandra.Client, seen: Set<object>): void {
  type HostInternals = { shutdown?: (waitForPending?: boolean) => Promise<void>; _healthResponseCountTimer?: ReturnType<typeof setInterval> | null };
  const sweep = () => {
    for (const h of client.hosts?.values() ?? []) seen.add(h);
    for (const host of seen) {
      const h = host as HostInternals;
      if (h._healthResponseCountTimer) {
        clearInterval(h._healthResponseCountTimer);
        h._healthResponseCountTimer = null;
      }
      h.shutdown?.(false).catch(() => undefined);
    }
  };
  sweep();
  for (const ms of [1000, 5000, 15_000]) setTimeout(sweep, ms).unref();
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
