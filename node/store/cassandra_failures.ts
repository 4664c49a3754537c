/**
 * How the store judges a driver failure: worth another attempt after a backoff
 * (timeouts, overload, no host: isTransient), the caller's bug (InvalidWriteError), or
 * unknown durability (StoreUnavailableError); and the backoff loop itself. The
 * driver's own policy (StoreRetryPolicy, cassandra_client.ts) decides *where* a request
 * goes again; this decides *when*, because an immediate retry into an overloaded
 * replica only adds to its queue.
 */
import cassandra from 'cassandra-driver';
import { InvalidWriteError, SeqTakenError, StoreUnavailableError } from './errors.js';

const codes = cassandra.types.responseErrorCodes;
const TRANSIENT_CODES: ReadonlySet<number> = new Set([
  codes.writeTimeout,
  codes.readTimeout,
  codes.unavailableException,
  codes.overloaded,
  codes.isBootstrapping,
]);
const INVALID_CODES: ReadonlySet<number> = new Set([codes.syntaxError, codes.invalid]);

export function isDriverError(err: unknown): boolean {
  return err instanceof cassandra.errors.DriverError;
}

/** Worth another attempt after a pause: the cluster may answer differently soon. */
export function isTransient(err: unknown): boolean {
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
export function classify(err: unknown, what: string): Error {
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

/** When a failed request is tried again (CassandraStoreOptions.retries, retryBaseMs). */
export interface RetryRule {
  /** Extra attempts after a transient failure. */
  retries: number;
  /** First backoff; doubles per attempt, with full jitter. */
  retryBaseMs: number;
  /** A closed store retries nothing. */
  closed(): boolean;
}

/** Run `fn`, again after a jittered exponential backoff while it fails transiently. */
export async function withRetry<T>(rule: RetryRule, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (rule.closed() || attempt >= rule.retries || !isTransient(err)) throw err;
      await sleep(Math.random() * rule.retryBaseMs * 2 ** attempt);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
