/**
 * SwitchboardClient's options and the defaults of its timers, each with the reason
 * it was chosen.
 */
import type { Encoding } from '../codec.js';
import type { BackoffPolicy } from './backoff.js';
import type { Clock } from './clock.js';
import type { WebSocketCtor } from './connection.js';
import type { Auth } from './credentials.js';
import type { SdkStorage } from './storage.js';

export interface ClientOptions {
  /** The node's WebSocket endpoint, e.g. ws://127.0.0.1:8080/v1/ws. */
  url: string;
  /**
   * Who this device belongs to, when the app knows it: which held messages are its own
   * (ticks, unread counts) before the first welcome says so. The welcome's user wins.
   */
  user?: string;
  auth: Auth;
  /**
   * How a token reaches the node: an Authorization header (Node; needs a WebSocket
   * constructor that takes headers, like `ws`) or a ticket fetched with it from
   * POST /v1/tickets (browsers). Default: header when `WebSocket` is given, else ticket.
   */
  tokenVia?: 'header' | 'ticket';
  /** The WebSocket constructor; default the global one (browsers, Node ≥ 22). */
  WebSocket?: WebSocketCtor;
  fetch?: typeof fetch;
  storage?: SdkStorage;
  encoding?: Encoding;
  backoff?: BackoffPolicy;
  clock?: Clock;
  random?: () => number;
  /** No send_ack or error within this: resend with the same client_msg_id (§6.2 suggests 10 s). */
  sendTimeoutMs?: number;
  /** Replies to sync, history, group frames. */
  requestTimeoutMs?: number;
  /** An open socket with no welcome within this is dropped and retried. */
  welcomeTimeoutMs?: number;
  /** Messages per sync page; 0 = the server's default. */
  syncLimit?: number;
}

export const DEFAULTS = {
  // §6.2: "10 s is reasonable": long enough for a loaded node's commit, short enough
  // that a lost frame does not leave the user staring at a clock.
  sendTimeoutMs: 10_000,
  // The same for sync pages and group frames: a node answers them from its caches or
  // one store read, so 10 s of silence means the socket is gone, not the node slow.
  requestTimeoutMs: 10_000,
  // Authentication is the node's first step after the upgrade; 10 s without a welcome
  // means a wedged socket, not a slow node.
  welcomeTimeoutMs: 10_000,
  // Acks are debounced: one ack covers everything up to the cursor (§6.2); 50 ms turns a
  // burst of pushes into one frame while ✓✓ still reaches the sender at once to a human.
  ackDelayMs: 50,
  // A gap while one of our own sends is in flight may be that send's seq: give its
  // ack this long to arrive before syncing.
  gapWaitMs: 500,
  // New conversations usually arrive in bursts (a sync page, a group add): one list.
  listDelayMs: 100,
};
