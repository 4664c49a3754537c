/**
 * Every message between the bench coordinator and its client worker processes, as
 * one union per direction (the piscina `types.ts` habit). Workers are forked with
 * child_process.fork, so these travel as structured-clone-safe plain data.
 */
import type { StepResult } from '../chat/open_loop.js';

/** One client process's slice of the load. */
export type Job =
  /**
   * Open `count` connections, sync each, hold them until `release`. Reconnect (and resync) when dropped if `reconnect`.
   * `ca` (PEM) is the only CA trusted for wss:// URLs (the run's self-signed certificate).
   */
  | { kind: 'hold'; urls: string[]; count: number; offset: number; reconnect: boolean; concurrency: number; raw: boolean; ca?: string }
  /** Connect, wait for welcome, close: `rate` attempts per second for `durationMs`. */
  | { kind: 'churn'; urls: string[]; rate: number; durationMs: number; maxInflight: number }
  /** Open `pairs` sender/recipient pairs, then run one open-loop chat step on `go`. */
  | { kind: 'chat'; urls: string[]; pairs: number; rate: number; durationSec: number; drainMs: number; bodyBytes: number }
  /** Closed-loop echo: `conns` sockets each keeping `window` messages in flight for `durationMs`. */
  | { kind: 'echo'; urls: string[]; conns: number; window: number; durationMs: number; raw: boolean; payloadBytes: number };

export interface WorkerInit {
  index: number;
  /** Source address for every socket of this worker (127.0.0.x): each has its own ephemeral port space. */
  localAddress: string;
  secret: string;
  tag: string;
  job: Job;
}

export type ToWorker = { t: 'init'; init: WorkerInit } | { t: 'go' } | { t: 'release' };

/** Counters every job reports; unused ones stay 0. */
export interface WorkerProgress {
  /** Sockets open right now (after welcome + sync). */
  open: number;
  /** Successful connects so far, reconnects included. */
  connects: number;
  failed: number;
  /** Drops seen while holding (not our own closes). */
  drops: number;
  reconnects: number;
  /** Chat / echo counters. */
  sent: number;
  acked: number;
  delivered: number;
  errors: number;
}

export interface WorkerResult {
  progress: WorkerProgress;
  /** Base64 HDR histograms to merge in the coordinator (µs). */
  histograms: Record<string, string>;
  chat?: StepResult;
  errorsByCode: Record<string, number>;
  /** Wall time of the measured phase, ms. */
  elapsedMs: number;
  /** When the last dropped socket came back after a reconnect (epoch ms; storm). */
  lastReconnectAt?: number;
  clientCpuPct: number;
  /** CPU seconds this worker used during the measured phase only (chat), for CPU per message. */
  measuredCpuSec?: number;
}

export type FromWorker =
  | { t: 'progress'; index: number; p: WorkerProgress }
  /** Setup finished (all sockets open / pairs ready); the coordinator may now say go or measure. */
  | { t: 'ready'; index: number; p: WorkerProgress }
  | { t: 'done'; index: number; r: WorkerResult }
  | { t: 'failed'; index: number; error: string };

export function emptyProgress(): WorkerProgress {
  return { open: 0, connects: 0, failed: 0, drops: 0, reconnects: 0, sent: 0, acked: 0, delivered: 0, errors: 0 };
}
