/**
 * The open-loop 1:1 chat load on prepared bytes (FastWs + chat_frames.ts), with the
 * same contract as open_loop.ts: message i of a step is scheduled at t0 + i/rate and
 * its latencies count from that intended time (no coordinated omission), and how
 * late the client itself ran is reported (scheduleLag).
 *
 * What keeps its CPU per message low: no object, promise or closure per message (a
 * step's state is one byte per message in a typed array, the intended time is computed
 * from the index), no encoder (the send frame is a template with the id patched in),
 * no decoder (replies are peeked for kind and id), the messages due for one sender in
 * one timer tick go out in one write, and histograms are HDR (a few array ops per value).
 */
import { performance } from 'node:perf_hooks';
import type { Progress, StepOptions, StepResult } from './open_loop.js';
import { StepCounters } from '../lib/step_result.js';
import type { FastPair } from './fast_pairs.js';
import { peek, writeId, errorCode, KIND_SEND_ACK, KIND_MESSAGE, KIND_ERROR, STEP_SPAN } from './chat_frames.js';

const ACKED = 1;
const DELIVERED = 2;
const FAILED = 4;

export class FastOpenLoop extends StepCounters {
  private state = new Uint8Array(0);
  /** Messages with nothing more to wait for (acked and delivered, or failed). */
  private finished = 0;
  private t0 = 0;
  private interval = 1;

  constructor(private readonly pairs: FastPair[]) {
    super();
    for (const p of pairs) {
      p.sender.onMessage = (buf, s, e) => this.onFrame(buf, s, e);
      p.recipient.onMessage = (buf, s, e) => this.onFrame(buf, s, e);
      this.watchCloses([p.sender, p.recipient]);
    }
  }

  private onFrame(buf: Buffer, s: number, e: number): void {
    const f = peek(buf, s, e);
    if (f.kind !== KIND_SEND_ACK && f.kind !== KIND_MESSAGE && f.kind !== KIND_ERROR) return; // receipts, presence: not this load
    const id = f.id;
    const i = id - this.step * STEP_SPAN;
    if (id < 0 || i < 0 || i >= this.sent) {
      if (f.kind === KIND_ERROR) this.count(errorCode(buf, s, e));
      else this.stale++;
      return;
    }
    const st = this.state[i];
    const now = performance.now();
    if (f.kind === KIND_SEND_ACK) {
      if (st & ACKED) return this.count('duplicate_ack');
      this.state[i] = st | ACKED;
      this.acked++;
      this.lastAckAt = now;
      this.ack.recordMs(now - (this.t0 + i * this.interval));
      if (st & DELIVERED) this.finished++;
    } else if (f.kind === KIND_MESSAGE) {
      if (st & DELIVERED) return this.count('duplicate_delivery');
      this.state[i] = st | DELIVERED;
      this.delivered++;
      this.lastDeliverAt = now;
      this.deliver.recordMs(now - (this.t0 + i * this.interval));
      if (st & ACKED) this.finished++;
    } else {
      this.count(errorCode(buf, s, e));
      if (!(st & FAILED)) {
        this.state[i] = st | FAILED;
        this.finished++;
      }
    }
  }

  async run(o: StepOptions): Promise<StepResult> {
    this.finished = 0;
    const total = Math.max(1, Math.round(o.rate * o.durationSec));
    if (total >= STEP_SPAN) throw new Error('too many messages in one step');
    this.state = new Uint8Array(total);
    this.interval = 1000 / o.rate;
    this.t0 = performance.now() + 5;
    this.beginStep(this.t0);
    const progress = setInterval(() => {
      const p: Progress = {
        tSec: Math.round((performance.now() - this.t0) / 1000),
        sent: this.sent,
        acked: this.acked,
        delivered: this.delivered,
        errors: Object.values(this.errors).reduce((a, b) => a + b, 0),
        inflight: this.sent - this.finished,
      };
      o.onSecond?.(p);
    }, 1000);
    try {
      await this.schedule(total);
      const deadline = performance.now() + o.drainMs;
      while (this.finished < this.sent && performance.now() < deadline) await sleep(10);
    } finally {
      clearInterval(progress);
      this.running = false;
    }
    let unacked = 0;
    let undelivered = 0;
    for (let i = 0; i < this.sent; i++) {
      const st = this.state[i];
      if (st & FAILED) continue;
      if (!(st & ACKED)) unacked++;
      if (!(st & DELIVERED)) undelivered++;
    }
    const t0 = this.t0;
    const sent = total;
    // Replies after this point belong to a finished step: counted stale by the next one.
    this.sent = 0;
    return this.result(o, t0, sent, unacked, undelivered);
  }

  /** Each timer tick: send every message now due, one write per sender, then sleep until the next is due. */
  private schedule(total: number): Promise<void> {
    const pairs = this.pairs;
    const np = pairs.length;
    return new Promise((resolve) => {
      const tick = (): void => {
        const now = performance.now();
        const first = this.sent;
        // Due: every i with t0 + i*interval <= now.
        const due = Math.min(total, Math.floor((now - this.t0) / this.interval) + 1);
        if (due > first) {
          const stepBase = this.step * STEP_SPAN;
          const lanes = Math.min(np, due - first);
          for (let k = 0; k < lanes; k++) {
            const pair = pairs[(first + k) % np];
            const n = Math.ceil((due - first - k) / np);
            const tpl = pair.send;
            const len = tpl.frame.length;
            const out = Buffer.allocUnsafe(len * n);
            for (let m = 0; m < n; m++) {
              const i = first + k + m * np;
              tpl.frame.copy(out, m * len);
              writeId(out, m * len + tpl.idAt, stepBase + i);
              this.lag.recordMs(now - (this.t0 + i * this.interval));
            }
            if (pair.sender.open) pair.sender.writeRaw(out);
            else {
              for (let m = 0; m < n; m++) this.state[first + k + m * np] = FAILED;
              this.finished += n;
              this.errors.sender_not_open = (this.errors.sender_not_open ?? 0) + n;
            }
          }
          this.sent = due;
        }
        if (due >= total) return resolve();
        setTimeout(tick, Math.max(0, this.t0 + due * this.interval - performance.now()));
      };
      setTimeout(tick, Math.max(0, this.t0 - performance.now()));
    });
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
