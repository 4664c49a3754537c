/**
 * Settings other parts derive from the config (send-limit rules, writer options).
 */
import type { SendLimitRules } from '../core/send_limits.js';
import type { Config } from './types.js';
/** The send limiter's rules (node/core/send_limits.ts) from the limits section. */
export function sendLimitRules(l: Config['limits']): SendLimitRules {
  return {
    user: { ratePerSec: l.userSendRatePerSec, burst: l.userSendBurst },
    conversation: { ratePerSec: l.conversationSendRatePerSec, burst: l.conversationSendBurst },
    sender: { ratePerSec: l.conversationSenderRatePerSec, burst: l.conversationSenderBurst },
    maxEntries: l.sendLimitMaxEntries,
  };
}

/**
 * The batch writer's options for a store config: `concurrency` 0 resolves to 4 commits
 * in flight on Cassandra (measured: 10 busy conversations, 2.9x -> 4.1x the per-message
 * writer; node/store/CASSANDRA.md) and 1 on SQLite.
 */
export function writerOptions(store: Config['store']): Config['store']['batch'] {
  const { concurrency } = store.batch;
  return { ...store.batch, concurrency: concurrency > 0 ? concurrency : store.kind === 'cassandra' ? 4 : 1 };
}
