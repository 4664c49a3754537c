/**
 * What a socket shard is configured with: the limits it enforces per connection and
 * the auth settings it verifies tokens with. These are the shard's own types, so that
 * shards/ does not import the node's config (node/ sits above shards/: docs/ARCHITECTURE.md);
 * the node's `Config['limits']` is ShardLimits plus the host's own limits
 * (node/config/types.ts), `Config['auth']` satisfies ShardAuth structurally, and the
 * host hands its sections over as they are (ShardInit in messages.ts).
 *
 * Only the limits a shard reads are listed: add a field here when shards/ starts
 * reading it (its default and what it does: node/config/defaults.ts, docs.ts).
 */
import type { KeySpec } from '../node/auth/types.js';

export interface ShardLimits {
  /** Largest inbound WebSocket frame; bigger frames get frame_too_large or close 1009. */
  maxFrameBytes: number;
  /** Largest body + meta of one message. */
  maxMessageBytes: number;
  /** Token bucket per connection for Send frames: refill rate and burst. */
  sendRatePerSec: number;
  sendBurst: number;
  /** Token bucket per connection for all other frames. */
  frameRatePerSec: number;
  frameBurst: number;
  /** A socket with no inbound frame (pongs count) for this long is closed with 4002. */
  idleTimeoutMs: number;
  /** Interval of server pings and of the idle / token-expiry sweep. */
  heartbeatMs: number;
  defaultSyncPage: number;
  maxSyncPage: number;
  maxHistoryPage: number;
  /** Outbound bytes buffered per socket before it is closed as a slow consumer (4003). */
  maxBackpressureBytes: number;
  maxConversationMembers: number;
  /** Most in-flight sends per connection awaiting their ack. */
  maxInflightSends: number;
  /** Users one connection may watch with presence_subscribe. */
  maxPresenceSubscriptions: number;
  /** A connection's typing notices are forwarded at most once per interval (others dropped). */
  typingIntervalMs: number;
}

/**
 * The `auth` section as the node's config holds it (empty issuer / audience = not
 * checked); shard_main.ts turns it into the verifier's AuthConfig.
 */
export interface ShardAuth {
  issuer: string;
  audience: string;
  clockToleranceSec: number;
  ticketTtlMs: number;
  keys: KeySpec[];
}
