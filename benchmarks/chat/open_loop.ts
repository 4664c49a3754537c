/**
 * Open-loop 1:1 chat load. Message i of a step is *scheduled* at t0 + i/rate and its
 * latencies are measured from that intended time, not from when the client got round
 * to sending it. If the node (or this client) stalls, the messages that should have
 * gone out during the stall are charged the stall: this is what avoids coordinated
 * omission, where a closed loop would quietly send less and report flattering
 * percentiles. How late the client itself was is reported too (scheduleLag), so a
 * reader can tell a saturated load generator from a slow node.
 */
import { performance } from 'node:perf_hooks';
import type { ServerFrame } from '../../protocol/gen/client_pb.js';
import type { Pair } from './pairs.js';
import { StepCounters, type StepResult } from '../lib/step_result.js';

export type { StepResult } from '../lib/step_result.js';

export interface Progress {
  tSec: number;
  sent: number;
  acked: number;
  delivered: number;
  errors: number;
  inflight: number;
}


interface Pending {
  intended: number;
  acked: boolean;
  delivered: boolean;
}

export interface StepOptions {
  rate: number;
  durationSec: number;
  /** After the last send, wait this long for outstanding acks and deliveries. */
  drainMs: number;
  onSecond?: (p: Progress) => void;
}

export class OpenLoopChat extends StepCounters {
  private pending = new Map<string, Pending>();
  private readonly body: string;

  constructor(
    private readonly pairs: Pair[],
    private readonly tag: string,
    bodyBytes = 100,
  ) {
    super();
    this.body = 'x'.repeat(bodyBytes);
    for (const p of pairs) {
      p.sender.onFrame = (f) => this.onSenderFrame(f);
      p.recipient.onFrame = (f) => this.onRecipientFrame(f);
      this.watchCloses([p.sender, p.recipient]);
    }
  }

  private onSenderFrame(f: ServerFrame): void {
    if (f.kind.case === 'sendAck') {
      const id = f.kind.value.clientMsgId;
      const p = this.pending.get(id);
      if (!p) return void this.stale++;
      if (p.acked) return this.count('duplicate_ack');
      const now = performance.now();
      p.acked = true;
      this.acked++;
      this.lastAckAt = now;
      this.ack.recordMs(now - p.intended);
      if (p.delivered) this.pending.delete(id);
    } else if (f.kind.case === 'error') {
      this.count(f.kind.value.code || 'error');
      this.pending.delete(f.kind.value.clientMsgId);
    }
    // Receipts and other pushes are not part of this load.
  }

  private onRecipientFrame(f: ServerFrame): void {
    if (f.kind.case !== 'message') return;
    const id = f.kind.value.clientMsgId;
    const p = this.pending.get(id);
    if (!p) return void this.stale++;
    if (p.delivered) return this.count('duplicate_delivery');
    const now = performance.now();
    p.delivered = true;
    this.delivered++;
    this.lastDeliverAt = now;
    this.deliver.recordMs(now - p.intended);
    if (p.acked) this.pending.delete(id);
  }

  /** Run one step at a fixed rate; histograms and counters start fresh for each step. */
  async run(o: StepOptions): Promise<StepResult> {
    this.pending.clear();
    const total = Math.max(1, Math.round(o.rate * o.durationSec));
    const interval = 1000 / o.rate;
    const t0 = performance.now() + 5;
    this.beginStep(t0);
    const progress = setInterval(() => {
      o.onSecond?.({
        tSec: Math.round((performance.now() - t0) / 1000),
        sent: this.sent,
        acked: this.acked,
        delivered: this.delivered,
        errors: Object.values(this.errors).reduce((a, b) => a + b, 0),
        inflight: this.pending.size,
      });
    }, 1000);
    try {
      await this.schedule(t0, total, interval);
      const deadline = performance.now() + o.drainMs;
      while (this.pending.size > 0 && performance.now() < deadline) await sleep(10);
    } finally {
      clearInterval(progress);
      this.running = false;
    }
    let unacked = 0;
    let undelivered = 0;
    for (const p of this.pending.values()) {
      if (!p.acked) unacked++;
      if (!p.delivered) undelivered++;
    }
    this.pending.clear();
    return this.result(o, t0, this.sent, unacked, undelivered);
  }

  /** Send every message whose intended time has come, then sleep until the next one is due. */
  private schedule(t0: number, total: number, interval: number): Promise<void> {
    let i = 0;
    return new Promise((resolve) => {
      const tick = (): void => {
        const now = performance.now();
        while (i < total) {
          const intended = t0 + i * interval;
          if (intended > now) break;
          this.sendOne(i, intended, now);
          i++;
        }
        if (i >= total) return resolve();
        setTimeout(tick, Math.max(0, t0 + i * interval - performance.now()));
      };
      setTimeout(tick, Math.max(0, t0 - performance.now()));
    });
  }

  private sendOne(i: number, intended: number, now: number): void {
    const pair = this.pairs[i % this.pairs.length];
    this.lag.recordMs(now - intended);
    this.sent++;
    if (!pair.sender.open) return this.count('sender_not_open');
    // The id encodes the step so a late reply from an earlier step is recognised as stale.
    const clientMsgId = `${this.tag}.${this.step}.${i}`;
    this.pending.set(clientMsgId, { intended, acked: false, delivered: false });
    pair.sender.send({ kind: { case: 'send', value: { conversation: pair.conversation, clientMsgId, body: this.body } } });
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
