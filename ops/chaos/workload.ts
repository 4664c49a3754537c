/**
 * The traffic of a chaos run: conversations (1:1 and groups) placed on every node
 * of the cell (each node owns some of the busy ones), and app-like devices that
 * keep sending into them concurrently.
 *
 * Each conversation has its own users, and every device of them sends:
 *   1:1 (a, b):  a/phone and b/phone on the owner, a/laptop and b/tablet on the others
 *   group of k:  the first two members' phones on the owner, the rest spread
 * so several senders per conversation, some connected straight to the owner, have
 * sends in flight at any moment. A device reconnects to its home node first, then
 * the others in turn. `impatient` devices give up on a silent connection after
 * `impatientTimeoutMs` (and resend elsewhere while the old frames may still be
 * queued); the rest keep their socket for `attemptTimeoutMs`.
 */
import { randomBytes } from 'node:crypto';
import { TestClient } from '../../protocol/client.js';
import { directConversationId } from '../../node/core/ids.js';
import { AppDevice } from './app_client.js';
import type { DeviceStats } from './device_types.js';
import type { History } from './history.js';
import type { Sut } from './sut.js';

export interface WorkloadOptions {
  /** 1:1 conversations per node. */
  directs: number;
  /** Groups per node. */
  groups: number;
  groupSize: number;
  /** New messages per second, all devices together. */
  rate: number;
  maxInflight: number;
  attemptTimeoutMs: number;
  impatientFraction: number;
  impatientTimeoutMs: number;
  /** Stop creating messages for a device whose outbox holds this many. */
  maxOutbox: number;
}

export interface ConvInfo {
  id: string;
  kind: 'direct' | 'group';
  /** Node index that owned it when it was set up. */
  home: number;
  members: string[];
}

export class Workload {
  readonly devices: AppDevice[] = [];
  readonly convs: ConvInfo[] = [];
  private readonly convOf = new Map<AppDevice, string>();
  private timers: NodeJS.Timeout[] = [];
  private sending = false;
  private seqNo = 0;

  private constructor(
    readonly sut: Sut,
    readonly history: History,
    readonly o: WorkloadOptions,
    readonly tag: string,
  ) {}

  static async create(sut: Sut, history: History, o: WorkloadOptions, log: (s: string) => void): Promise<Workload> {
    const w = new Workload(sut, history, o, `c${randomBytes(3).toString('hex')}`);
    await w.setup(log);
    return w;
  }

  /** Conversations owned by node i (as placed at setup). */
  convsOn(i: number): ConvInfo[] {
    return this.convs.filter((c) => c.home === i);
  }

  private async setupClient(node: number, user: string): Promise<TestClient> {
    const c = await TestClient.connect({ url: this.sut.endpoint(node).url(), token: await this.sut.token(user, 'setup'), timeoutMs: 10_000 });
    await c.waitFor((f) => f.kind.case === 'welcome', 10_000);
    return c;
  }

  private async setup(log: (s: string) => void): Promise<void> {
    const n = this.sut.nodeCount;
    for (let node = 0; node < n; node++) {
      for (let k = 0; k < this.o.directs; k++) {
        // Pick users until their conversation's shard is owned by `node`.
        for (let attempt = 0; ; attempt++) {
          if (attempt > 200) throw new Error(`no 1:1 conversation owned by ${this.sut.nodeName(node)} after 200 tries`);
          const a = `${this.tag}-n${node}d${k}x${attempt}a`;
          const b = `${this.tag}-n${node}d${k}x${attempt}b`;
          const id = directConversationId(a, b);
          if ((await this.sut.ownerOf(id)) !== node) continue;
          const c = await this.setupClient(node, a);
          try {
            const f = await c.call({ kind: { case: 'openDirect', value: { peer: b } } }, 15_000);
            if (f.kind.case !== 'directOpened' || f.kind.value.conversation !== id) throw new Error(`open_direct answered ${f.kind.case}`);
          } finally {
            c.close();
          }
          this.convs.push({ id, kind: 'direct', home: node, members: [a, b] });
          break;
        }
      }
    }
    // Groups: the id is the gateway's; create until every node owns enough of them.
    const need = Array.from({ length: n }, () => this.o.groups);
    for (let attempt = 0; need.some((x) => x > 0); attempt++) {
      if (attempt > 60 * n * Math.max(1, this.o.groups)) throw new Error(`could not place groups on every node (still needed: ${need.join(',')})`);
      const members = Array.from({ length: this.o.groupSize }, (_, i) => `${this.tag}-g${attempt}m${i}`);
      const c = await this.setupClient(attempt % n, members[0]);
      let id = '';
      try {
        const f = await c.call({ kind: { case: 'createGroup', value: { subject: `chaos ${attempt}`, members: members.slice(1) } } }, 15_000);
        if (f.kind.case !== 'groupInfo') throw new Error(`create_group answered ${f.kind.case}`);
        id = f.kind.value.conversation;
      } finally {
        c.close();
      }
      const owner = await this.sut.ownerOf(id);
      if (owner === null || need[owner] <= 0) continue; // an idle group of users nobody connects as
      need[owner]--;
      this.convs.push({ id, kind: 'group', home: owner, members });
    }
    // Devices.
    let idx = 0;
    const every = this.o.impatientFraction > 0 ? Math.max(1, Math.round(1 / this.o.impatientFraction)) : 0;
    const place = (conv: ConvInfo, user: string, device: string, home: number): void => {
      const impatient = every > 0 && idx++ % every === every - 1;
      const order = Array.from({ length: n }, (_, k) => (home + k) % n);
      const d = new AppDevice({
        user,
        device,
        endpoints: order.map((i) => this.sut.endpoint(i)),
        token: () => this.sut.token(user, device),
        history: this.history,
        attemptTimeoutMs: impatient ? this.o.impatientTimeoutMs : this.o.attemptTimeoutMs,
        maxInflight: this.o.maxInflight,
      });
      this.devices.push(d);
      this.convOf.set(d, conv.id);
    };
    for (const c of this.convs) {
      const X = c.home;
      if (c.kind === 'direct') {
        const [a, b] = c.members;
        place(c, a, 'phone', X);
        place(c, b, 'phone', X);
        place(c, a, 'laptop', (X + 1) % n);
        place(c, b, 'tablet', (X + 2) % n);
      } else {
        c.members.forEach((u, k) => place(c, u, 'phone', k < 2 ? X : (X + k - 1) % n));
      }
    }
    log(`workload: ${this.convs.length} conversations (${this.convs.filter((c) => c.kind === 'direct').length} 1:1, ${this.convs.filter((c) => c.kind === 'group').length} groups of ${this.o.groupSize}), ${this.devices.length} devices, ~${this.o.rate} msg/s`);
  }

  /** Connect every device and wait until they are all connected and synced. */
  async connectAll(timeoutMs: number): Promise<void> {
    for (const d of this.devices) d.start();
    const deadline = Date.now() + timeoutMs;
    while (this.devices.some((d) => !d.connected)) {
      if (Date.now() > deadline) throw new Error(`devices not connected after ${timeoutMs} ms: ${this.devices.filter((d) => !d.connected).map((d) => `${d.key} (${d.lastError})`).slice(0, 5).join('; ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Every device creates a message every ~devices/rate seconds (jittered). */
  startSending(): void {
    this.sending = true;
    const meanMs = (1000 * this.devices.length) / Math.max(0.1, this.o.rate);
    for (const d of this.devices) {
      const conv = this.convOf.get(d)!;
      const tick = (): void => {
        if (!this.sending) return;
        if (d.pending() < this.o.maxOutbox) {
          const n = this.seqNo++;
          const cmid = `${d.o.device}-${n}`;
          d.send(conv, cmid, `${d.key} #${n} ${randomBytes(4).toString('hex')}`);
        }
        this.timers.push(setTimeout(tick, meanMs * (0.5 + Math.random())));
      };
      this.timers.push(setTimeout(tick, Math.random() * meanMs));
    }
  }

  stopSending(): void {
    this.sending = false;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }

  pending(): number {
    return this.devices.reduce((s, d) => s + d.pending(), 0);
  }

  connectedCount(): number {
    return this.devices.filter((d) => d.connected).length;
  }

  /** Wait until every outbox is empty (or the deadline); true when they all are. */
  async drain(deadline: number): Promise<boolean> {
    const ok = await Promise.all(this.devices.map((d) => d.drain(deadline)));
    return ok.every(Boolean);
  }

  /** Stop resending, wait for replies to what is on the wire, then every device's full sync. */
  async finalSync(deadline: number): Promise<void> {
    for (const d of this.devices) d.abandonOutbox();
    const settle = Math.min(deadline, Date.now() + 10_000);
    while (this.devices.some((d) => d.inflight() > 0) && Date.now() < settle) await new Promise((r) => setTimeout(r, 100));
    await Promise.all(this.devices.map((d) => d.fullSync(deadline)));
  }

  stats(): DeviceStats {
    const out: DeviceStats = { connects: 0, connectFailures: 0, deadConnections: 0, resends: 0, retryableErrors: {}, closeCodes: {}, lateAcks: 0, gapSyncs: 0, syncRefused: {}, receipts: 0 };
    for (const d of this.devices) {
      const s = d.stats;
      out.connects += s.connects;
      out.connectFailures += s.connectFailures;
      out.deadConnections += s.deadConnections;
      out.resends += s.resends;
      out.lateAcks += s.lateAcks;
      out.gapSyncs += s.gapSyncs;
      out.receipts += s.receipts;
      for (const [k, v] of Object.entries(s.retryableErrors)) out.retryableErrors[k] = (out.retryableErrors[k] ?? 0) + v;
      for (const [k, v] of Object.entries(s.closeCodes)) out.closeCodes[k] = (out.closeCodes[k] ?? 0) + v;
      for (const [k, v] of Object.entries(s.syncRefused)) out.syncRefused[k] = (out.syncRefused[k] ?? 0) + v;
    }
    return out;
  }

  async close(): Promise<void> {
    this.stopSending();
    await Promise.all(this.devices.map((d) => d.close()));
  }
}
