/**
 * The scenarios: what runs (one node on SQLite, or a cell), which fault each cycle
 * injects, and the defaults. `npm run chaos -- list` prints them.
 */
import { cassandraRestart, etcdRestart, killRestart, partition, pauseResume, pickOwner, type CycleOutcome, type NemesisCtx } from './nemesis.js';

export interface Params {
  /** Cell: cluster.etcd.leaseTtlSec. */
  leaseTtlSec: number;
  /** owner-freeze: the owner is frozen this many lease TTLs. */
  freezeFactor: number;
  /** partition: the node is cut off this many lease TTLs. */
  partitionFactor: number;
  /** stop: SIGSTOP length, ms (each cycle picks uniformly in this range). */
  stopMs: [number, number];
  /** etcd-restart / cassandra-restart: time down before the restart, ms. */
  downMs: number;
  /** Traffic without faults between cycles, ms. */
  gapMs: number;
}

export interface Scenario {
  name: string;
  about: string;
  sut: 'single' | 'cell';
  /** Kills Cassandra, or runs in a namespace the shared one is not in. */
  privateCassandra?: boolean;
  /** Needs its own network namespace (iptables). */
  netns?: boolean;
  /** Run the cell's nodes with their own group ids (iptables owner match). */
  nodeGids?: boolean;
  defaultCycles: number;
  /** Upper bound for one cycle (the run stops cycling when one takes longer). */
  cycleDeadlineMs: (p: Params) => number;
  /** How long a device that keeps its socket waits for a reply before giving up on it. */
  patientTimeoutMs: (p: Params) => number;
  cycle(ctx: NemesisCtx, p: Params, runT0: number, acks: () => number): Promise<CycleOutcome>;
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'kill',
    about: 'one node on SQLite: SIGKILL under traffic, restart on the same data, N cycles',
    sut: 'single',
    defaultCycles: 20,
    cycleDeadlineMs: () => 90_000,
    patientTimeoutMs: () => 8_000,
    cycle: (ctx, p, t0) => killRestart(ctx, 0, '', t0, p.leaseTtlSec),
  },
  {
    name: 'stop',
    about: 'one node on SQLite: SIGSTOP for a while (clients keep their sockets), SIGCONT, N cycles',
    sut: 'single',
    defaultCycles: 20,
    cycleDeadlineMs: (p) => p.stopMs[1] + 90_000,
    patientTimeoutMs: (p) => p.stopMs[1] + 6_000,
    cycle: (ctx, p, t0) => pauseResume(ctx, 0, p.stopMs[0] + Math.random() * (p.stopMs[1] - p.stopMs[0]), '', t0),
  },
  {
    name: 'owner-freeze',
    about: '3-node cell: the owner of busy conversations SIGSTOPped past its lease (freeze-factor x TTL) with senders connected straight to it keeping their sockets, SIGCONT',
    sut: 'cell',
    defaultCycles: 20,
    cycleDeadlineMs: (p) => p.leaseTtlSec * 1000 * p.freezeFactor + 90_000,
    patientTimeoutMs: (p) => p.leaseTtlSec * 1000 * p.freezeFactor + 6_000,
    cycle: async (ctx, p, t0) => {
      const { victim, conv } = await pickOwner(ctx);
      return pauseResume(ctx, victim, p.leaseTtlSec * 1000 * p.freezeFactor, conv, t0);
    },
  },
  {
    name: 'cluster-kill',
    about: '3-node cell: SIGKILL the owner of busy conversations under traffic, wait for the takeover, restart it',
    sut: 'cell',
    defaultCycles: 20,
    cycleDeadlineMs: (p) => p.leaseTtlSec * 1000 + 150_000,
    patientTimeoutMs: () => 8_000,
    cycle: async (ctx, p, t0) => {
      const { victim, conv } = await pickOwner(ctx);
      return killRestart(ctx, victim, conv, t0, p.leaseTtlSec);
    },
  },
  {
    name: 'partition',
    about: '3-node cell in a private network namespace: cut the owner off from etcd and its peers with iptables (partition-factor x TTL; its clients still reach it), heal',
    sut: 'cell',
    privateCassandra: true,
    netns: true,
    nodeGids: true,
    defaultCycles: 20,
    cycleDeadlineMs: (p) => p.leaseTtlSec * 1000 * p.partitionFactor + 120_000,
    patientTimeoutMs: (p) => p.leaseTtlSec * 1000 * p.partitionFactor + 6_000,
    cycle: async (ctx, p, t0) => {
      const { victim, conv } = await pickOwner(ctx);
      return partition(ctx, victim, p.leaseTtlSec * 1000 * p.partitionFactor, conv, t0);
    },
  },
  {
    name: 'etcd-restart',
    about: '3-node cell: SIGKILL etcd, keep it down (odd cycles down-seconds, even cycles 1.5 x TTL: writes must stop), start it again on the same data',
    sut: 'cell',
    defaultCycles: 20,
    cycleDeadlineMs: (p) => Math.max(p.downMs, p.leaseTtlSec * 1500) + 120_000,
    patientTimeoutMs: () => 8_000,
    cycle: (ctx, p, t0) => etcdRestart(ctx, ctx.cycle % 2 === 1 ? p.downMs : p.leaseTtlSec * 1500, t0),
  },
  {
    name: 'cassandra-restart',
    about: '3-node cell on a private Cassandra: SIGKILL Cassandra under traffic, restart it (a restart takes 10-40 s)',
    sut: 'cell',
    privateCassandra: true,
    defaultCycles: 10,
    cycleDeadlineMs: (p) => p.downMs + 300_000,
    patientTimeoutMs: () => 8_000,
    cycle: (ctx, p, t0, acks) => cassandraRestart(ctx, p.downMs, t0, acks),
  },
];

export function scenario(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
