/**
 * Port choice for a node, remembered in <dataDir>/node.json.
 *
 * A node keeps its ports for life: Cassandra records its own address:port in the
 * system tables, and a test that kills and restarts the node must find it where the
 * clients already point. So the first start decides (given, default, or a free port
 * when 0 is asked for) and every later start on that data dir reuses the choice
 * unless told otherwise.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';

export interface NodePorts {
  readonly cqlPort: number;
  readonly storagePort: number;
}

export const DEFAULT_CQL_PORT = 9042;
export const DEFAULT_STORAGE_PORT = 7000;

export function readSavedPorts(stateFile: string): NodePorts | null {
  if (!existsSync(stateFile)) return null;
  try {
    const s = JSON.parse(readFileSync(stateFile, 'utf8')) as Partial<NodePorts>;
    if (typeof s.cqlPort === 'number' && typeof s.storagePort === 'number') {
      return { cqlPort: s.cqlPort, storagePort: s.storagePort };
    }
  } catch {
    // An unreadable state file is treated as absent: the node then gets fresh ports.
  }
  return null;
}

export function savePorts(stateFile: string, ports: NodePorts): void {
  writeFileSync(stateFile, JSON.stringify(ports, null, 2) + '\n');
}

/**
 * Explicit ports win, then saved ones, then the defaults. 0 means "any free port".
 * The storage port follows the CQL port: the standard pair 9042/7000, otherwise a
 * free port, so two nodes started with different CQL ports never clash on 7000.
 */
export async function resolvePorts(
  host: string,
  wanted: { cqlPort?: number; storagePort?: number },
  saved: NodePorts | null,
): Promise<NodePorts> {
  let cqlPort = wanted.cqlPort ?? saved?.cqlPort ?? DEFAULT_CQL_PORT;
  if (cqlPort === 0) cqlPort = await freePort(host);
  let storagePort =
    wanted.storagePort ??
    (saved && saved.cqlPort === cqlPort ? saved.storagePort : undefined) ??
    (cqlPort === DEFAULT_CQL_PORT ? DEFAULT_STORAGE_PORT : 0);
  if (storagePort === 0) storagePort = await freePort(host, [cqlPort]);
  return { cqlPort, storagePort };
}

/** Fails early with a readable error instead of a JVM stack trace 10 s later. */
export async function assertPortsFree(host: string, ports: NodePorts): Promise<void> {
  for (const [name, port] of [['CQL', ports.cqlPort], ['storage', ports.storagePort]] as const) {
    if (!(await canBind(host, port))) {
      throw new Error(`${name} port ${host}:${port} is in use (another Cassandra on this port?)`);
    }
  }
}

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

async function freePort(host: string, avoid: number[] = []): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen({ host, port: 0 }, () => {
        const addr = srv.address();
        srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
      });
    });
    if (port !== 0 && !avoid.includes(port)) return port;
  }
}
