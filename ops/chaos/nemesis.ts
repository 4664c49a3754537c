/**
 * The faults. Each injects one fault, holds it, heals it, and waits until the system
 * serves again, measuring as it goes. They run between stretches of traffic (run.ts);
 * traffic never stops while they run.
 */
import { Cell, type Sut } from './sut.js';
import type { Workload } from './workload.js';
import { heal, isolate, listRules } from './iptables.js';

export interface NemesisCtx {
  sut: Sut;
  workload: Workload;
  cycle: number;
  /** Rejects when the run is aborted. */
  sleep(ms: number): Promise<void>;
  log(line: string): void;
}

export interface CycleOutcome {
  cycle: number;
  fault: string;
  victim?: string;
  /** ms since the run started: the fault's window (for the timeline). */
  startT: number;
  endT: number;
  /** How long the fault was held. */
  faultMs: number;
  /** Cell: when the victim's shards had a new owner, after the fault started (null: they did not move). */
  movedAfterMs?: number | null;
  /** From healing until the system served again. */
  recoveredMs: number;
  notes?: string[];
}

/** What every fault reports once healed: its window and, after `served` resolves, how long recovery took. */
async function healed(
  ctx: NemesisCtx,
  f: { fault: string; victim?: string; t0: number; healAt: number; runT0: number; movedAfterMs?: number | null; notes?: string[] },
  served: () => Promise<void> = () => ctx.sut.waitReady(60_000),
): Promise<CycleOutcome> {
  await served();
  const out: CycleOutcome = { cycle: ctx.cycle, fault: f.fault, startT: f.t0 - f.runT0, endT: f.healAt - f.runT0, faultMs: f.healAt - f.t0, recoveredMs: Date.now() - f.healAt };
  if (f.victim !== undefined) out.victim = f.victim;
  if (f.movedAfterMs !== undefined) out.movedAfterMs = f.movedAfterMs;
  if (f.notes) out.notes = f.notes;
  return out;
}

/** The node owning the busy conversations of this cycle: rotates over the nodes. */
export async function pickOwner(ctx: NemesisCtx): Promise<{ victim: number; conv: string }> {
  const n = ctx.sut.nodeCount;
  for (let k = 0; k < n; k++) {
    const want = (ctx.cycle - 1 + k) % n;
    const convs = ctx.workload.convsOn(want);
    if (!convs.length) continue;
    const owner = await ctx.sut.ownerOf(convs[0].id);
    if (owner !== null) return { victim: owner, conv: convs[0].id };
  }
  throw new Error('no busy conversation has an owner');
}

/** Poll the owner of `conv` until it is not `from` (cell only). */
function watchOwner(ctx: NemesisCtx, conv: string, from: number, t0: number): { stop(): number | null } {
  let movedAt: number | null = null;
  let stopped = false;
  void (async () => {
    while (!stopped && movedAt === null) {
      try {
        const o = await ctx.sut.ownerOf(conv);
        if (o !== null && o !== from) movedAt = Date.now() - t0;
      } catch {
        // etcd busy
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    stop: () => {
      stopped = true;
      return movedAt;
    },
  };
}

const others = (sut: Sut, i: number): number[] => Array.from({ length: sut.nodeCount }, (_, k) => k).filter((k) => k !== i);

/** SIGKILL node i, (cell: wait for its shards to move), start it again, wait until served. */
export async function killRestart(ctx: NemesisCtx, i: number, conv: string, runT0: number, leaseTtlSec: number): Promise<CycleOutcome> {
  const t0 = Date.now();
  const w = ctx.sut.kind === 'cell' ? watchOwner(ctx, conv, i, t0) : null;
  await ctx.sut.kill(i);
  const notes: string[] = [];
  if (ctx.sut.kind === 'cell') {
    await ctx.sut.waitReady(leaseTtlSec * 1000 + 30_000, others(ctx.sut, i));
    notes.push(`the survivors held every shard ${Date.now() - t0} ms after the kill`);
  } else await ctx.sleep(300);
  const healAt = Date.now();
  await ctx.sut.restart(i);
  const victim = ctx.sut.nodeName(i);
  return healed(ctx, { fault: `SIGKILL ${victim}, restart`, victim, t0, healAt, runT0, movedAfterMs: w?.stop(), notes });
}

/** SIGSTOP node i for `ms` (its sockets stay open), SIGCONT, wait until served. */
export async function pauseResume(ctx: NemesisCtx, i: number, ms: number, conv: string, runT0: number): Promise<CycleOutcome> {
  const t0 = Date.now();
  const w = ctx.sut.kind === 'cell' ? watchOwner(ctx, conv, i, t0) : null;
  const on = ctx.workload.devices.filter((d) => d.node === ctx.sut.nodeName(i));
  const notes = [`at the freeze: ${on.length} devices connected to ${ctx.sut.nodeName(i)} with ${on.reduce((s, d) => s + d.inflight(), 0)} sends in flight on them`];
  ctx.sut.pause(i);
  try {
    await ctx.sleep(ms);
  } finally {
    ctx.sut.resume(i);
  }
  const healAt = Date.now();
  const victim = ctx.sut.nodeName(i);
  return healed(ctx, { fault: `SIGSTOP ${victim} ${(ms / 1000).toFixed(1)} s`, victim, t0, healAt, runT0, movedAfterMs: w?.stop(), notes });
}

/** Cut node i off from etcd and its peers for `ms` (iptables in the private netns), heal. */
export async function partition(ctx: NemesisCtx, i: number, ms: number, conv: string, runT0: number): Promise<CycleOutcome> {
  if (!(ctx.sut instanceof Cell) || !ctx.sut.gids) throw new Error('partition needs a cell whose nodes run with their own group ids');
  const cell = ctx.sut.cell;
  const t0 = Date.now();
  const w = watchOwner(ctx, conv, i, t0);
  await isolate({ gid: ctx.sut.gids[i], etcdPorts: [cell.etcd.clientPort], ownPeerPort: cell.peerPorts[i], otherPeerPorts: others(ctx.sut, i).map((k) => cell.peerPorts[k]) });
  const rules = (await listRules()).trim().split('\n').length - 1;
  try {
    await ctx.sleep(ms);
  } finally {
    await heal();
  }
  const healAt = Date.now();
  const victim = ctx.sut.nodeName(i);
  return healed(ctx, { fault: `partition ${victim} from etcd and peers ${(ms / 1000).toFixed(1)} s`, victim, t0, healAt, runT0, movedAfterMs: w.stop(), notes: [`${rules} iptables rules`] });
}

/** Kill etcd, keep it down `ms`, start it again on the same data, wait until the cell settles. */
export async function etcdRestart(ctx: NemesisCtx, ms: number, runT0: number): Promise<CycleOutcome> {
  if (!(ctx.sut instanceof Cell)) throw new Error('etcd-restart needs a cell');
  const t0 = Date.now();
  await ctx.sut.cell.etcdDown('SIGKILL');
  try {
    await ctx.sleep(ms);
  } finally {
    await ctx.sut.cell.etcdUp();
  }
  return healed(ctx, { fault: `SIGKILL etcd, down ${(ms / 1000).toFixed(1)} s`, t0, healAt: Date.now(), runT0 });
}

/** SIGKILL the private Cassandra, keep it down `ms`, restart it, wait until sends are acked again. */
export async function cassandraRestart(ctx: NemesisCtx, ms: number, runT0: number, acks: () => number): Promise<CycleOutcome> {
  if (!(ctx.sut instanceof Cell) || !ctx.sut.cassandra) throw new Error('cassandra-restart needs a cell on a private Cassandra');
  const cass = ctx.sut.cassandra;
  const t0 = Date.now();
  await cass.kill();
  await ctx.sleep(ms);
  const upAt = Date.now();
  await cass.restart();
  const healAt = Date.now();
  const fault = `SIGKILL Cassandra, down ${(ms / 1000).toFixed(1)} s + ${((healAt - upAt) / 1000).toFixed(1)} s restart`;
  // Served again = sends are acked again, not just /readyz.
  return healed(ctx, { fault, t0, healAt, runT0 }, async () => {
    await ctx.sut.waitReady(60_000);
    const before = acks();
    const deadline = Date.now() + 120_000;
    while (acks() <= before + 10) {
      if (Date.now() > deadline) throw new Error('no sends acked within 120 s of Cassandra coming back');
      await ctx.sleep(100);
    }
  });
}
