/**
 * The etcd client every cluster component shares (one gRPC channel per node).
 *
 * etcd3's default per-host policy is a circuit breaker that, after 3 failed calls,
 * fails every call for 5 s. With a single dev member (and on a restart of any member)
 * that turns a 1 s etcd blip into 5 s of refused writes; our components already retry
 * with their own backoff, so the per-host policy here is a pass-through.
 */
import { Etcd3, type IOptions } from 'etcd3';

const passThrough = {
  execute: async <T>(fn: (ctx: { signal: AbortSignal; attempt: number }) => PromiseLike<T> | T): Promise<T> =>
    await fn({ signal: new AbortController().signal, attempt: 0 }),
};

export function makeEtcdClient(endpoints: string | string[], extra: Partial<IOptions> = {}): Etcd3 {
  return new Etcd3({
    hosts: endpoints,
    dialTimeout: 2_000,
    ...extra,
    faultHandling: { host: () => passThrough as never, ...extra.faultHandling },
  });
}
