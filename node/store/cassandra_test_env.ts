/**
 * Cassandra for tests.
 *
 *   const cass = await getTestCassandra();   // after(() => cass.release())
 *   const keyspace = testKeyspace('store');
 *
 * With SB_CASSANDRA_CONTACT=host:port (set by a test runner that starts one node per
 * run) the tests use that node. Otherwise this module starts one on a temp data dir,
 * shared by every caller in this process, and release() of the last user kills it and
 * deletes the dir (a running JVM child would otherwise keep the test process alive;
 * if the process dies first, ops/cassandra SIGKILLs the JVM on exit).
 *
 * No skip when Cassandra is missing: a test that needs it fails, because CI installs
 * it (ops/cassandra/ensure-deps.sh).
 *
 * Tests that kill Cassandra must not kill a shared node: they use startPrivateCassandra().
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { LOCAL_DATACENTER, startCassandra, type CassandraHandle, type JitMode } from '../../ops/cassandra/index.js';

export interface TestCassandra {
  /** host:port, as the node config's store.cassandra.contactPoints takes it. */
  contactPoint: string;
  localDataCenter: string;
  /** Done with it: stops the node when this process started it and nobody else uses it. */
  release(): Promise<void>;
}

export const CONTACT_ENV = 'SB_CASSANDRA_CONTACT';

let shared: { node: Promise<PrivateCassandra>; users: number } | null = null;

export async function getTestCassandra(): Promise<TestCassandra> {
  const fromEnv = process.env[CONTACT_ENV];
  if (fromEnv) return { contactPoint: fromEnv, localDataCenter: LOCAL_DATACENTER, release: async () => undefined };
  if (!shared) shared = { node: startPrivateCassandra(), users: 0 };
  const mine = shared;
  mine.users += 1;
  let released = false;
  try {
    const node = await mine.node;
    return {
      contactPoint: node.contactPoint,
      localDataCenter: LOCAL_DATACENTER,
      release: async () => {
        if (released) return;
        released = true;
        if (--mine.users === 0) {
          if (shared === mine) shared = null;
          await node.destroy();
        }
      },
    };
  } catch (err) {
    if (shared === mine) shared = null;
    throw err;
  }
}

/** A keyspace name no other test file (or run) uses. */
export function testKeyspace(prefix: string): string {
  return `sb_${prefix.replace(/[^a-z0-9_]/g, '_')}_${randomBytes(4).toString('hex')}`.slice(0, 48);
}

export interface PrivateCassandra {
  contactPoint: string;
  dataDir: string;
  handle(): CassandraHandle;
  /** SIGKILL: a crash; only the commit log survives. */
  kill(): Promise<void>;
  /** Start again on the same data dir and ports (after kill or stop). */
  restart(): Promise<void>;
  /** Kill and delete the data dir. */
  destroy(): Promise<void>;
}

/** A node of this process's own, on a fresh temp data dir: safe to kill and restart. */
export async function startPrivateCassandra(opts: { jit?: JitMode; paxosVariant?: 'v1' | 'v2' } = {}): Promise<PrivateCassandra> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sb-cassandra-test-'));
  let node: CassandraHandle;
  try {
    node = await startCassandra({ dataDir, port: 0, jit: opts.jit, paxosVariant: opts.paxosVariant });
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    contactPoint: `${node.host}:${node.port}`,
    dataDir,
    handle: () => node,
    kill: async () => {
      await node.kill();
    },
    restart: async () => {
      if (node.isAlive()) await node.kill();
      node = await startCassandra({ dataDir, jit: opts.jit });
    },
    destroy: async () => {
      await node.kill();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
