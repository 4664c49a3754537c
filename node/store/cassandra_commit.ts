/**
 * The store's write path: one commit's plan (cassandra_plan.ts) sent as requests
 * (cassandra_packing.ts) in its three phases, ordered against earlier commits per
 * conversation, with the poison rule that keeps a failed commit from being overtaken;
 * message rows as conditional batches when seqs are guarded. commit() below states
 * the guarantees. CassandraStore (cassandra_store.ts) owns one of these.
 */
import cassandra from 'cassandra-driver';
import type { WriteOp } from './types.js';
import { SeqTakenError, StoreUnavailableError } from './errors.js';
import { bucketOf, messageRowOf, planCommit, trimStatements, writeQueries, type MessageChain, type PartitionWrite, type Statement, type WriteQueries } from './cassandra_plan.js';
import { chunk, pack, runLimited, type ChunkLimits, type Grouping, type Piece, type Request } from './cassandra_packing.js';
import { classify, withRetry, type RetryRule } from './cassandra_failures.js';
import { num } from './cassandra_reads.js';

export interface CommitOptions {
  /** Write consistency, and the Paxos round's (serial) one for guarded message rows. */
  writeCl: number;
  serialCl: number;
  /** Message rows are conditional inserts (CassandraStoreOptions.guardSeqs). */
  guardSeqs: boolean;
  /** Requests in flight per commit (CassandraStoreOptions.concurrency). */
  concurrency: number;
  limits: ChunkLimits;
  grouping: Grouping;
  retry: RetryRule;
  /** first_seq and the last_seq hint of a conversation (for trims). */
  bounds(conversation: string): Promise<{ first: number; hint: number }>;
  /** Throws when the store is closed. */
  assertOpen(): void;
}

export class CommitPipeline {
  private readonly wq: WriteQueries;
  private readonly writeCl: number;
  private readonly serialCl: number;
  private readonly guardSeqs: boolean;
  private readonly concurrency: number;
  private readonly limits: ChunkLimits;
  private readonly grouping: Grouping;
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

  constructor(
    private readonly client: cassandra.Client,
    private readonly keyspace: string,
    private readonly opts: CommitOptions,
  ) {
    this.wq = writeQueries(keyspace);
    this.writeCl = opts.writeCl;
    this.serialCl = opts.serialCl;
    this.guardSeqs = opts.guardSeqs;
    this.concurrency = opts.concurrency;
    this.limits = opts.limits;
    this.grouping = opts.grouping;
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

  /** One commit's three phases (see cassandra_plan.ts), ordered against earlier commits per conversation. */
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

  private bounds(conversation: string): Promise<{ first: number; hint: number }> {
    return this.opts.bounds(conversation);
  }

  private withRetry<T>(fn: () => Promise<T>): Promise<T> {
    return withRetry(this.opts.retry, fn);
  }

  private assertOpen(): void {
    this.opts.assertOpen();
  }
}
