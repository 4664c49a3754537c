/**
 * Starting the nodes a scenario targets. One node process can hold at most ~19,000
 * sockets (20,000 open files per process), so connection counts above that need
 * several nodes; scenarios spread their sockets across all of them.
 */
import net from 'node:net';
import type { TestNode } from '../../node/e2e/harness.js';
import { startBenchNode } from './bench_node.js';
import { ProcWatcher } from './proc_stats.js';

export const MAX_SOCKETS_PER_NODE = 18_000;

export function nodesFor(connections: number): number {
  return Math.max(1, Math.ceil(connections / MAX_SOCKETS_PER_NODE));
}

export interface RunningNodes {
  nodes: TestNode[];
  watchers: ProcWatcher[];
  /** All nodes accept tokens signed with the same secret. */
  secret: string;
  urls: string[];
  rssBytes(): number;
  stop(): Promise<void>;
}

export async function startNodes(n: number, config: Record<string, unknown> = {}): Promise<RunningNodes> {
  const first = await startBenchNode({ config, nodeId: 'bench-1' });
  const rest = await Promise.all(
    Array.from({ length: n - 1 }, (_, i) => startBenchNode({ config, nodeId: `bench-${i + 2}`, secret: first.secret })),
  );
  const nodes = [first, ...rest];
  const watchers = nodes.map((nd) => new ProcWatcher(nd.proc.pid!).start());
  return {
    nodes,
    watchers,
    secret: first.secret,
    urls: nodes.map((nd) => nd.url),
    rssBytes: () => watchers.reduce((a, w) => a + (w.mark()?.rssBytes ?? 0), 0),
    stop: async () => {
      for (const w of watchers) w.stop();
      await Promise.all(nodes.map((nd) => nd.stop()));
      for (const nd of nodes) nd.cleanup();
    },
  };
}

/** A free loopback port, for nodes that must come back on the same address (storm). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}
