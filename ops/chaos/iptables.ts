/**
 * The partition nemesis: cut one node off from etcd and from its peers with iptables,
 * in the run's private network namespace only (netns.ts). Every rule goes into one
 * chain, SBCHAOS, hooked into OUTPUT; healing flushes it.
 *
 * All processes share the namespace's loopback, so a node's own traffic is told apart
 * by the group id its process runs as (NodeOptions.gid, `-m owner --gid-owner`); the
 * other direction (peers dialling it) by its peer port. Clients keep reaching the
 * isolated node, as clients on its side of a real partition would, and so does
 * Cassandra: the node has to fence itself with nothing but its lease.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { NETNS_ENV } from './netns.js';

const run = promisify(execFile);
export const CHAIN = 'SBCHAOS';

export interface IsolateSpec {
  /** Group id the isolated node's process runs as. */
  gid: number;
  etcdPorts: number[];
  /** The isolated node's own peer (gRPC) port: others cannot reach it. */
  ownPeerPort: number;
  /** The other nodes' peer ports: it cannot reach them. */
  otherPeerPorts: number[];
}

/** The rules, as iptables argument lists (pure; appended to CHAIN). */
export function isolateRules(s: IsolateSpec): string[][] {
  const out: string[][] = [];
  for (const p of [...s.etcdPorts, ...s.otherPeerPorts]) out.push(['-A', CHAIN, '-p', 'tcp', '-m', 'owner', '--gid-owner', String(s.gid), '--dport', String(p), '-j', 'DROP']);
  out.push(['-A', CHAIN, '-p', 'tcp', '--dport', String(s.ownPeerPort), '-j', 'DROP']);
  return out;
}

/** Refuse to touch iptables outside the run's own network namespace. */
export async function assertPrivateNetns(): Promise<string> {
  const name = process.env[NETNS_ENV];
  if (!name) throw new Error(`iptables rules are only added inside the chaos run's private network namespace (${NETNS_ENV} is not set)`);
  const { stdout } = await run('ip', ['netns', 'identify', String(process.pid)]);
  if (stdout.trim() !== name) throw new Error(`this process is in network namespace ${JSON.stringify(stdout.trim())}, not ${name}: refusing to add iptables rules`);
  return name;
}

async function iptables(args: string[]): Promise<void> {
  await run('iptables', ['-w', '5', ...args]);
}

export async function setupChain(): Promise<void> {
  await assertPrivateNetns();
  await iptables(['-N', CHAIN]).catch(() => undefined); // exists already
  await iptables(['-F', CHAIN]);
  const hooked = await iptables(['-C', 'OUTPUT', '-j', CHAIN]).then(() => true, () => false);
  if (!hooked) await iptables(['-I', 'OUTPUT', '-j', CHAIN]);
}

export async function isolate(s: IsolateSpec): Promise<void> {
  await assertPrivateNetns();
  for (const r of isolateRules(s)) await iptables(r);
}

export async function heal(): Promise<void> {
  await assertPrivateNetns();
  await iptables(['-F', CHAIN]);
}

export async function listRules(): Promise<string> {
  const { stdout } = await run('iptables', ['-w', '5', '-S', CHAIN]);
  return stdout;
}
