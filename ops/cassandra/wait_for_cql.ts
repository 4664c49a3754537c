/**
 * Poll until a node answers CQL. The native port opens only at the very end of
 * startup (after commit log replay and system keyspaces), so a query that succeeds
 * means the node is ready for Switchboard's store.
 */
import net from 'node:net';
import cassandra from 'cassandra-driver';
import { tailLogs } from './log_tail.js';

export interface WaitForCqlOptions {
  readonly host?: string;
  readonly port: number;
  /** Default 120 s: a cold start on a loaded 2-core CI box can take well over 30 s. */
  readonly timeoutMs?: number;
  /** Progress lines, about every 5 s. */
  readonly onProgress?: (line: string) => void;
  /** Stop waiting as soon as this says the JVM is gone (no point in polling a corpse). */
  readonly isAlive?: () => boolean;
  /** Tailed into the error on failure. */
  readonly logFiles?: readonly string[];
}

export interface CqlReady {
  readonly releaseVersion: string;
  readonly waitedMs: number;
}

export class CassandraStartError extends Error {
  override readonly name = 'CassandraStartError';
}

const POLL_MS = 250;
const PROGRESS_EVERY_MS = 5_000;

export async function waitForCql(o: WaitForCqlOptions): Promise<CqlReady> {
  const host = o.host ?? '127.0.0.1';
  const timeoutMs = o.timeoutMs ?? 120_000;
  const started = Date.now();
  let lastProgress = started;
  let lastError = 'not tried yet';
  const fail = (why: string): never => {
    const tail = o.logFiles?.length ? '\n' + tailLogs(o.logFiles) : '';
    throw new CassandraStartError(`Cassandra on ${host}:${o.port} ${why} (last error: ${lastError})${tail}`);
  };
  for (;;) {
    if (o.isAlive && !o.isAlive()) fail('exited before CQL came up');
    // A bare TCP probe first: it is cheap and keeps the driver from logging
    // connection failures every 250 ms while the JVM is still booting.
    if (await tcpOpen(host, o.port)) {
      try {
        const releaseVersion = await queryReleaseVersion(host, o.port);
        return { releaseVersion, waitedMs: Date.now() - started };
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
      }
    } else {
      lastError = 'connection refused';
    }
    const now = Date.now();
    if (now - started >= timeoutMs) fail(`did not accept CQL within ${Math.round(timeoutMs / 1000)} s`);
    if (o.onProgress && now - lastProgress >= PROGRESS_EVERY_MS) {
      lastProgress = now;
      o.onProgress(`waiting for CQL on ${host}:${o.port}… ${Math.round((now - started) / 1000)} s (${lastError})`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1_000, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

async function queryReleaseVersion(host: string, port: number): Promise<string> {
  const client = new cassandra.Client({
    contactPoints: [`${host}:${port}`],
    localDataCenter: 'datacenter1',
    socketOptions: { connectTimeout: 2_000, readTimeout: 5_000 },
  });
  try {
    await client.connect();
    const rs = await client.execute('SELECT release_version FROM system.local');
    return String(rs.first()?.get('release_version') ?? 'unknown');
  } finally {
    await client.shutdown().catch(() => undefined);
  }
}
