/**
 * PeerLink: this node's end of the one bidi stream it shares with one peer.
 *
 * Roles: the node with the smaller id dials (`dial` = the peer's host:port) and
 * redials with backoff; the other accepts (PeerServer hands it the stream). Both ends
 * then behave the same: Hello first, frames batched both ways, heartbeats when idle.
 *
 *   send(frame) -> FrameQueue (bounded bytes) -> batches (flush on size, or at the end
 *   of the event-loop turn / after maxDelayMs) -> stream.write (waits for 'drain')
 *
 * Delivery is at most once: frames in a batch written to a stream that then dies are
 * lost. Every op sent over a link tolerates that: a forwarded send is retried by the
 * client with the same client_msg_id, a lost delivery push is recovered by sync.
 *
 * A Service (supervisor/service_child.ts): run one per peer as a dynamic child,
 * started when membership says the peer is up and terminated when it goes down.
 * `start` does not wait for the peer (it may be down); `onState` reports up/down.
 */
import { Client, credentials, type ClientDuplexStream, type ServerDuplexStream } from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { LinkFrameSchema, type LinkBatch, type LinkFrame } from '../../protocol/gen/cluster_pb.js';
import type { Service } from '../../supervisor/service_child.js';
import type { PeerDirectory } from './peer_directory.js';
import { FrameQueue } from './frame_queue.js';
import { CHANNEL_OPTIONS, LINK_PATH, decodeBatch, encodeBatch, encodeLinkFrame, frameBatch, type OutBatch } from './wire.js';

export type LinkState = 'connecting' | 'up' | 'down' | 'stopped';
export type SendResult = 'ok' | 'overloaded';
type Stream = ClientDuplexStream<OutBatch, LinkBatch> | ServerDuplexStream<LinkBatch, OutBatch>;

export interface PeerLinkOptions {
  self: string;
  peer: string;
  /** host:port to dial, or null when the peer dials us (its id is smaller). */
  dial: string | null;
  /** Frames other than Hello/Heartbeat, in arrival order. */
  onFrames: (frames: LinkFrame[], peer: string) => void;
  /** Where the PeerServer finds acceptor links; the link adds itself on start. */
  directory?: PeerDirectory<PeerLink>;
  /** Our etcd lease id, sent in Hello. */
  leaseId?: () => string;
  /**
   * Bytes queued for the peer before send() answers `overloaded`. 8 MiB: ~1 s of a
   * busy link's traffic, enough to ride out a reconnect; more only delays the moment
   * clients learn the peer is in trouble.
   */
  maxQueuedBytes?: number;
  /** Bytes per batch. 64 KiB: one HTTP/2 window's worth; bigger batches add latency. */
  maxBatchBytes?: number;
  /**
   * Extra wait for company before a batch leaves. 0 (default): the batch leaves at the
   * end of the current event-loop turn, so every frame produced by one burst of work
   * shares a batch and an idle link adds no latency.
   */
  maxDelayMs?: number;
  /** Heartbeat after this long without sending. 1000 ms. */
  heartbeatMs?: number;
  /** Peer declared dead after this long without receiving anything. 3000 ms (3 heartbeats). */
  deadAfterMs?: number;
  /** Redial backoff bounds (ms), doubled per failure with ±20% jitter. 100..2000. */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  log?: (line: string) => void;
}

export interface PeerLinkStats {
  state: LinkState;
  queuedBytes: number;
  dropped: number;
  framesSent: number;
  batchesSent: number;
  framesReceived: number;
  batchesReceived: number;
  connects: number;
}

export class PeerLink implements Service {
  readonly peer: string;
  private state: LinkState = 'down';
  private readonly queue: FrameQueue<LinkFrame>;
  private stream: Stream | null = null;
  private client: Client | null = null;
  private waitingDrain = false;
  private flushScheduled = false;
  private lastSent = 0;
  private lastRecv = 0;
  private backoff: number;
  private tick: NodeJS.Timeout | null = null;
  private redial: NodeJS.Timeout | null = null;
  private muted = false;
  private readonly listeners = new Set<(s: LinkState) => void>();
  private readonly counters = { framesSent: 0, batchesSent: 0, framesReceived: 0, batchesReceived: 0, connects: 0 };

  constructor(private readonly opts: PeerLinkOptions) {
    this.peer = opts.peer;
    this.queue = new FrameQueue(opts.maxQueuedBytes ?? 8 * 1024 * 1024, encodeLinkFrame);
    this.backoff = opts.backoffMinMs ?? 100;
  }

  get linkState(): LinkState {
    return this.state;
  }

  async start(): Promise<void> {
    this.opts.directory?.set(this);
    const hb = this.opts.heartbeatMs ?? 1_000;
    this.tick = setInterval(() => this.onTick(), Math.max(10, Math.floor(hb / 4)));
    if (this.opts.dial) this.connect();
  }

  /** Flush what is queued (within `deadlineMs`), then close the stream. */
  async stop(deadlineMs = 2_000): Promise<void> {
    const until = Date.now() + Math.min(deadlineMs, 60_000);
    while (this.state === 'up' && this.queue.length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    this.setState('stopped');
    this.opts.directory?.delete(this);
    for (const t of [this.tick, this.redial]) if (t) clearTimeout(t);
    this.queue.clear();
    this.closeStream(true);
    this.client?.close();
    this.client = null;
  }

  kill(): void {
    void this.stop(0);
  }

  /** Queue a frame for the peer. `overloaded` (counted, frame dropped) past maxQueuedBytes. */
  send(frame: LinkFrame): SendResult {
    if (this.state === 'stopped') return 'overloaded';
    if (!this.queue.push(frame)) return 'overloaded';
    this.scheduleFlush();
    return 'ok';
  }

  onState(fn: (s: LinkState) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  stats(): PeerLinkStats {
    return { state: this.state, queuedBytes: this.queue.bytes, dropped: this.queue.dropped, ...this.counters };
  }

  /** Test hook: stop writing anything (heartbeats included), as a frozen peer would. */
  mute(on = true): void {
    this.muted = on;
    if (!on) this.scheduleFlush();
  }

  /** Acceptor side: PeerServer hands over a stream the peer opened (first batch already read). */
  attach(stream: ServerDuplexStream<LinkBatch, OutBatch>, first: LinkBatch): void {
    if (this.state === 'stopped') {
      stream.end();
      return;
    }
    this.closeStream(false);
    this.use(stream);
    this.onBatch(stream, first);
  }

  private connect(): void {
    if (this.state === 'stopped' || !this.opts.dial) return;
    this.client ??= new Client(this.opts.dial, credentials.createInsecure(), CHANNEL_OPTIONS);
    const stream = this.client.makeBidiStreamRequest<OutBatch, LinkBatch>(LINK_PATH, encodeBatch, decodeBatch);
    this.use(stream);
  }

  private use(stream: Stream): void {
    this.stream = stream;
    this.waitingDrain = false;
    this.lastRecv = Date.now();
    this.setState('connecting');
    stream.on('data', (b: LinkBatch) => this.onBatch(stream, b));
    stream.on('error', (e: Error) => this.lost(stream, e.message));
    stream.on('end', () => this.lost(stream, 'stream ended'));
    stream.on('close', () => this.lost(stream, 'stream closed'));
    this.writeNow([this.hello()]);
  }

  private onBatch(stream: Stream, b: LinkBatch): void {
    if (stream !== this.stream) return;
    this.lastRecv = Date.now();
    this.counters.batchesReceived++;
    const app: LinkFrame[] = [];
    for (const f of b.frames) {
      if (f.kind.case === 'hello') {
        if (f.kind.value.nodeId !== this.peer) {
          this.opts.log?.(`link ${this.peer}: hello from ${f.kind.value.nodeId}; closing`);
          this.lost(stream, 'wrong peer', true);
          return;
        }
        if (this.state === 'connecting') {
          this.backoff = this.opts.backoffMinMs ?? 100;
          this.counters.connects++;
          this.setState('up');
          this.scheduleFlush();
        }
      } else if (f.kind.case !== 'heartbeat') app.push(f);
    }
    this.counters.framesReceived += app.length;
    if (app.length > 0) this.opts.onFrames(app, this.peer);
  }

  private lost(stream: Stream, why: string, abort = false): void {
    if (stream !== this.stream) return;
    if (abort) this.closeStream(true);
    this.stream = null;
    if (this.state === 'stopped') return;
    this.opts.log?.(`link ${this.opts.self}->${this.peer} down: ${why}`);
    this.setState('down');
    if (this.opts.dial) {
      const max = this.opts.backoffMaxMs ?? 2_000;
      const wait = this.backoff * (0.8 + Math.random() * 0.4);
      this.backoff = Math.min(this.backoff * 2, max);
      this.redial = setTimeout(() => {
        this.redial = null;
        this.connect();
      }, wait);
    }
  }

  private closeStream(abort: boolean): void {
    const s = this.stream;
    this.stream = null;
    if (!s) return;
    s.removeAllListeners();
    s.on('error', () => undefined);
    if (abort && 'cancel' in s) s.cancel();
    else s.end();
  }

  private onTick(): void {
    const now = Date.now();
    if (this.stream && now - this.lastRecv > (this.opts.deadAfterMs ?? 3_000)) {
      this.lost(this.stream, `no frame for ${now - this.lastRecv} ms`, true);
      return;
    }
    if (this.state === 'up' && now - this.lastSent >= (this.opts.heartbeatMs ?? 1_000)) {
      this.writeNow([create(LinkFrameSchema, { kind: { case: 'heartbeat', value: { sentAtMs: BigInt(now) } } })]);
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.state !== 'up') return;
    this.flushScheduled = true;
    const run = (): void => {
      this.flushScheduled = false;
      this.pump();
    };
    const delay = this.opts.maxDelayMs ?? 0;
    if (this.queue.bytes >= (this.opts.maxBatchBytes ?? 65_536) || delay === 0) setImmediate(run);
    else setTimeout(run, delay);
  }

  private pump(): void {
    const max = this.opts.maxBatchBytes ?? 65_536;
    while (this.stream && this.state === 'up' && !this.waitingDrain && !this.muted && this.queue.length > 0) {
      const batch = this.queue.take(max);
      this.counters.framesSent += batch.length;
      this.counters.batchesSent++;
      if (!this.write(batch)) {
        const s = this.stream;
        this.waitingDrain = true;
        s.once('drain', () => {
          if (s !== this.stream) return;
          this.waitingDrain = false;
          this.pump();
        });
      }
    }
  }

  /** Control frames bypass the queue (and its bound) but not the mute hook. */
  private writeNow(frames: LinkFrame[]): void {
    if (this.stream && !this.muted) this.write(frameBatch(frames));
  }

  private write(batch: OutBatch): boolean {
    this.lastSent = Date.now();
    return (this.stream as ClientDuplexStream<OutBatch, LinkBatch>).write(batch);
  }

  private hello(): LinkFrame {
    return create(LinkFrameSchema, { kind: { case: 'hello', value: { nodeId: this.opts.self, protocol: 1, leaseId: this.opts.leaseId?.() ?? '' } } });
  }

  private setState(s: LinkState): void {
    if (this.state === s) return;
    this.state = s;
    for (const fn of this.listeners) fn(s);
  }
}
