/**
 * What the push outbox (outbox.ts) is built with: its settings (the push.* config),
 * and the ports it reads and calls (the message store's reads, the push store, the
 * providers, who is online, who owns a conversation now).
 */
import type { StoredMessage, Conversation, DeviceCursor } from '../store/types.js';
import type { PushProvider } from './provider.js';
import type { PushStore } from './push_store.js';
import type { PushPlatform } from './types.js';
import type { PushMetrics } from './metrics.js';
import type { PushConfig } from '../config.js';

/** The reads the outbox needs from the message store. */
export interface MessageSource {
  readAfter(conversation: string, afterSeq: number, limit: number): Promise<StoredMessage[]>;
  getConversation(id: string): Promise<Conversation | null>;
  getCursors(conversation: string): Promise<DeviceCursor[]>;
}

/** Which node sends: the owner of the conversation's shard, under its epoch. */
export interface PushOwnership {
  shardOf(conversation: string): number;
  /** This node's ownership epoch of the conversation's shard now; null: owned elsewhere or moving. */
  epochOf(conversation: string): number | null;
}

/** The push.* settings the outbox reads (node/config/types.ts PushConfig), and two of its own. */
export interface OutboxOptions
  extends Pick<
    PushConfig,
    'ackWaitMs' | 'collapseWindowMs' | 'ttlMs' | 'retryBaseMs' | 'retryMaxMs' | 'maxAttempts' | 'providerConcurrency' | 'providerRatePerSec' | 'endpointConcurrency' | 'endpointRatePerSec' | 'rescanMs'
  > {
  /**
   * Owed messages tracked in memory; past it new ones stay only in the store and the
   * rescan picks them up. 100,000 owed messages are ~30 MB.
   */
  maxTracked?: number;
  /**
   * An owed row whose message is not (or not that message) in the store this long after
   * it was written belongs to a commit that failed: it is settled. 60 s is far longer
   * than any commit (the writer's store calls time out within seconds).
   */
  orphanGraceMs?: number;
}

export type Log = (level: string, msg: string, fields?: Record<string, unknown>) => void;

export interface OutboxDeps {
  store: PushStore;
  messages: MessageSource;
  providers: (platform: PushPlatform) => PushProvider | null;
  online: (user: string, device: string) => boolean;
  ownership: PushOwnership;
  /** Names this process in send claims: node id and a per-start id. */
  claimer: string;
  metrics?: PushMetrics;
  log?: Log;
  now?: () => number;
  random?: () => number;
}
