/**
 * The cassandra-driver client as Switchboard runs it: contact points and consistency
 * from the node config, token-aware prepared requests, the retry policy (where an
 * idempotent request goes again), fast reconnection, and the sweep of timers the
 * driver can leave behind on shutdown. Used by the message store (cassandra_store.ts)
 * and by anything else that talks to the same cluster (migrations, media, push).
 */
import cassandra from 'cassandra-driver';
import { applyCassandraDriverFix } from './cassandra_driver_fix.js';

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

/** A driver client with Switchboard's policies; not connected yet. */
export function createCassandraClient(
  cfg: Pick<CassandraConfig, 'contactPoints' | 'localDataCenter' | 'consistency'>,
  /** requestTimeoutMs: OpenCassandraOptions.requestTimeoutMs (default 5 s, see there). */
  opts: { requestTimeoutMs?: number } = {},
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

export function consistencyOf(name: ConsistencyName): number {
  return CONSISTENCIES[name];
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
export function sweepDriverTimers(client: cassandra.Client, seen: Set<object>): void {
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
