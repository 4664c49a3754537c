/**
 * The data an app-like chaos device (app_client.ts) works with: where it connects
 * (Endpoint), how it is configured (DeviceOptions), what it counts (DeviceStats), and
 * its own bookkeeping of the outbox and of one connection's requests in flight.
 */
import type { TestClient } from '../../protocol/client.js';
import type { ServerFrame } from '../../protocol/gen/client_pb.js';
import type { History } from './history.js';

export interface Endpoint {
  /** e.g. 'node-2'. */
  name: string;
  /** Resolved at each connect (a restarted node may listen elsewhere). */
  url(): string;
}

export interface DeviceOptions {
  user: string;
  device: string;
  /** Tried in turn, starting with the first, on each (re)connect. */
  endpoints: Endpoint[];
  token(): Promise<string>;
  history: History;
  /** No reply to a request in this long: drop the connection, reconnect, resend. */
  attemptTimeoutMs: number;
  /** Upgrade + welcome must arrive within this. */
  connectTimeoutMs?: number;
  maxInflight?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  ackDelayMs?: number;
  /** Send a read receipt on every n-th delivered ack (0: never). */
  readEvery?: number;
}

/** A message in the outbox, with its attempts and the request carrying it now. */
export interface OutboxEntry {
  conv: string;
  clientMsgId: string;
  body: string;
  attempts: number;
  inflight: { conn: Conn; reqId: number; at: number } | null;
  notBefore: number;
  backoff: number;
}

/** A request of one connection awaiting its reply. */
export type Pending = { kind: 'send'; entry: OutboxEntry; at: number } | { kind: 'sync'; at: number; resolve(f: ServerFrame): void; reject(e: Error): void };

/** One connection of the device, to one node. */
export interface Conn {
  client: TestClient;
  endpoint: string;
  node: string;
  pending: Map<number, Pending>;
  ready: boolean;
  dead: boolean;
  /** Resolves when the socket closed or the device gave up on it. */
  closed: Promise<void>;
  finish(): void;
}

export interface DeviceStats {
  connects: number;
  connectFailures: number;
  /** Connections dropped for no reply within attemptTimeoutMs. */
  deadConnections: number;
  /** Sends transmitted again (after an error, a dead connection or a reconnect). */
  resends: number;
  retryableErrors: Record<string, number>;
  closeCodes: Record<string, number>;
  /** Acks that arrived on a connection the device had already given up on. */
  lateAcks: number;
  gapSyncs: number;
  /** Syncs refused (e.g. invalid_argument: a cursor above the conversation's last seq). */
  syncRefused: Record<string, number>;
  receipts: number;
}
