/**
 * What one measured window of load cost, per durable message: the node's CPU per
 * thread role (/proc/<pid>/task, named by the thread probe), the load generator's CPU,
 * the host main loop's delay histogram (/metrics), messages per store commit, and
 * with `profile` the node's top self-time functions over the same window.
 */
import { copyFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { NodeProbe, ThreadCpu } from './node_probe.js';
import { threadCpuDelta } from './node_probe.js';
import { scrapeNode, type NodeMetrics } from './node_metrics.js';
import { topFunctions, type TopFunction } from './cpu_profile.js';
import { SelfProfiler } from './self_profile.js';

export interface ThreadCost {
  role: string;
  threads: number;
  /** % of one core over the window. */
  cpuPct: number;
  usPerMsg: number;
  /** ms per second of the window the role's threads were runnable but waiting for a core (scheduler run-queue delay). */
  waitMsPerSec: number;
}

export interface StepCost {
  wallSec: number;
  messages: number;
  nodeCpuPct: number;
  nodeUsPerMsg: number;
  clientCpuPct: number;
  /** Client CPU per message it sent (its work is per sent message: one send, one ack, one delivery), µs. */
  clientUsPerMsg: number;
  /** The part of clientUsPerMsg spent in the kernel (on loopback the writer pays for the receiver's TCP processing too). */
  clientSysUsPerMsg: number;
  threads: ThreadCost[];
  loopDelay: NodeMetrics['loopDelay'];
  /** Durable messages per store commit in the window (null when the node reports no batches). */
  msgsPerCommit: number | null;
  opsCommitted: Record<string, number>;
  profile: { top: TopFunction[]; sampledMs: number; byRole: Record<string, number> } | null;
  /** The in-process load generator's own top functions (with `profile`). */
  clientProfile: { top: TopFunction[]; sampledMs: number } | null;
}

const r1 = (x: number): number => Math.round(x * 10) / 10;

export class StepMeter {
  private threads0: ThreadCpu = new Map();
  private client0 = process.cpuUsage();
  private metrics0: NodeMetrics | null = null;
  private w0 = 0;

  constructor(
    private readonly pid: number,
    private readonly httpUrl: string,
    private readonly probe: NodeProbe,
    private readonly profile: boolean,
    /** CPU seconds of client processes other than this one (worker clients), or none. */
    private readonly extraClientCpuSec: () => number = () => 0,
    /** With `profile`: where each step's .cpuprofile files are kept (step<N>-<role>-<tid>.cpuprofile, for DevTools), or nowhere. */
    private readonly keepProfilesIn: string | null = null,
  ) {}

  private stepNo = 0;

  private extra0 = 0;
  private readonly self = new SelfProfiler();

  async begin(): Promise<void> {
    if (this.profile) {
      await this.probe.command(this.pid, 'profile-start');
      await this.self.start();
    }
    this.metrics0 = await scrapeNode(this.httpUrl); // also resets the loop-delay histogram
    this.threads0 = this.probe.threadCpu(this.pid);
    this.client0 = process.cpuUsage();
    this.extra0 = this.extraClientCpuSec();
    this.w0 = performance.now();
  }

  /** `messages`: durable (acked) messages of the window; `sent`: messages the client sent in it. */
  async end(messages: number, sent: number = messages): Promise<StepCost> {
    const wallSec = (performance.now() - this.w0) / 1000;
    const cu = process.cpuUsage(this.client0);
    const clientSec = (cu.user + cu.system) / 1e6 + (this.extraClientCpuSec() - this.extra0);
    const clientSysSec = cu.system / 1e6;
    const threads1 = this.probe.threadCpu(this.pid);
    const m1 = await scrapeNode(this.httpUrl);
    let profile: StepCost['profile'] = null;
    let clientProfile: StepCost['clientProfile'] = null;
    if (this.profile) {
      const own = await this.self.stop();
      await this.probe.command(this.pid, 'profile-stop');
      const files = this.probe.profiles();
      profile = topFunctions(files, messages);
      this.stepNo++;
      if (this.keepProfilesIn) for (const f of files) copyFileSync(f.file, path.join(this.keepProfilesIn, `step${this.stepNo}-${f.role}-${f.tid}.cpuprofile`));
      if (own) clientProfile = topFunctions([{ role: 'client', file: own }], messages, 15);
    }
    const per = Math.max(1, messages);
    const perSent = Math.max(1, sent);
    const rows = threadCpuDelta(this.threads0, threads1);
    const nodeSec = rows.reduce((a, t) => a + t.cpuSec, 0);
    const batches = m1 && this.metrics0 ? m1.batchesCommitted - this.metrics0.batchesCommitted : 0;
    const ops: Record<string, number> = {};
    for (const [k, v] of Object.entries(m1?.opsCommitted ?? {})) ops[k] = v - (this.metrics0?.opsCommitted[k] ?? 0);
    return {
      wallSec: r1(wallSec),
      messages,
      nodeCpuPct: Math.round((nodeSec / wallSec) * 100),
      nodeUsPerMsg: r1((nodeSec * 1e6) / per),
      clientCpuPct: Math.round((clientSec / wallSec) * 100),
      clientUsPerMsg: r1((clientSec * 1e6) / perSent),
      clientSysUsPerMsg: r1((clientSysSec * 1e6) / perSent),
      threads: rows.map((t) => ({ role: t.role, threads: t.threads, cpuPct: Math.round((t.cpuSec / wallSec) * 100), usPerMsg: r1((t.cpuSec * 1e6) / per), waitMsPerSec: r1((t.waitSec * 1000) / wallSec) })),
      loopDelay: m1?.loopDelay ?? null,
      msgsPerCommit: batches > 0 ? r1((ops.message ?? messages) / batches) : null,
      opsCommitted: ops,
      profile,
      clientProfile,
    };
  }
}
