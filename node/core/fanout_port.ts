/**
 * The one fan-out port of the core: the chat service says "deliver this to these
 * members" once, and where the members' devices are (this socket shard, another
 * shard of this host, another node of the cell) is the port's business.
 *
 * Implementations: LocalFanout (node/core/local_fanout.ts: one node, the host's
 * registry and outbox) and ClusterFanout (node/cluster/fanout.ts: the local one plus
 * one frame per other node that has recipients). Whatever else must hear of a durable
 * message (push notifications for offline devices, media references) wraps the port.
 *
 * Every method is synchronous and never throws: fan-out is at most once (a lost push
 * is recovered by the client's sync), so the core never waits on it.
 */
import type { Caller, RemoteOrigin } from './chat_types.js';
import type { MemberReceipt } from './ops.js';
import type { Push } from './pushes.js';
import type { ConnRef } from './registry.js';
import type { StoredMessage } from '../store/types.js';

/** The connection a fan-out skips: the one the request came on, here or on another node. */
export interface Origin {
  conn: Caller['conn'];
  remote: RemoteOrigin | null;
}

export interface FanoutPort {
  /**
   * A durable message for `users`' devices (every member, the sender's other devices
   * included; the connection it came on is skipped). t0: when the send arrived.
   */
  message(users: readonly string[], message: StoredMessage, from: Origin, t0: number): void;
  /** Moved delivered/read watermarks of a 1:1 conversation. */
  receipts(users: readonly string[], receipts: MemberReceipt[], from: Origin): void;
  /** Any other push (group receipts, typing) for `users`' devices. */
  push(users: readonly string[], push: Push): void;
  /** A push for given connections of this node (presence: subscribers are connections). */
  pushTo(conns: ConnRef[], push: Push): void;
  /** A user's hide-last-seen setting changed (every node's presence must know). */
  presenceSetting(user: string, hidden: boolean): void;
}

/** The origin of a caller's request. */
export function originOf(caller: Caller): Origin {
  return { conn: caller.conn, remote: caller.origin ?? null };
}

/** No origin to skip (server-made pushes, HTTP API calls). */
export const NO_ORIGIN: Origin = { conn: null, remote: null };
