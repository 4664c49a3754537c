/**
 * CLI for a local single-node Cassandra 5.0 on loopback. Usage: see USAGE below and
 * README.md. Every subcommand works on one data dir (default .cache/cassandra/node),
 * which holds the node's config, ports, logs and pid file.
 */
import { parseArgs } from 'node:util';
import cassandra from 'cassandra-driver';
import { splitCql } from '../../node/store/cassandra_schema/cql_split.js';
import { DEFAULT_HEAP, runningPid, startCassandra, stopByPidFile } from './daemon.js';
import { fetchCassandra } from './fetch.js';
import { CASSANDRA_VERSION, DEFAULT_CLI_DATA_DIR, nodeLayout } from './layout.js';
import { DEFAULT_CQL_PORT, readSavedPorts } from './ports.js';
import { waitForCql } from './wait_for_cql.js';
import type { CommitlogSync, PaxosVariant } from './config.js';

const USAGE = `usage: node --import tsx ops/cassandra/cassandra.ts <command> [options]

commands:
  fetch                 download cassandra-all ${CASSANDRA_VERSION} + deps into .cache/cassandra/lib (no-op when cached)
  start                 launch the node detached (pid file and logs under the data dir)
  wait                  poll until CQL answers; fails with the log tail after --timeout
  stop                  SIGTERM, then SIGKILL after --grace seconds
  status                print whether the node runs, its pid and ports
  exec "<cql>"          run CQL statements (';'-separated) through cassandra-driver, rows as JSON lines

options:
  --data-dir DIR        node directory (default ${DEFAULT_CLI_DATA_DIR})
  --port N              CQL port (default: saved in the data dir, else ${DEFAULT_CQL_PORT}; 0 = any free port)
  --storage-port N      inter-node port (default: saved, else 7000 beside 9042, else free)
  --heap SIZE           -Xms/-Xmx (default ${DEFAULT_HEAP})
  --full-jit            start: normal tiered JIT (for benchmarks); default stops at C1 for a quicker start
  --commitlog-sync M    batch | group | periodic (default batch: acks only after fsync)
  --paxos V             v1 | v2 (default v1, Cassandra's own; v2: LWTs in 2 replica round trips)
  --jmx-port N          open JMX on loopback for nodetool (default off)
  --wait                start: also wait for CQL
  --timeout S           wait: give up after S seconds (default 120)
  --grace S             stop: seconds between SIGTERM and SIGKILL (default 30)
  --keyspace K          exec: session keyspace
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'data-dir': { type: 'string' },
      port: { type: 'string' },
      'storage-port': { type: 'string' },
      heap: { type: 'string' },
      'commitlog-sync': { type: 'string' },
      paxos: { type: 'string' },
      'jmx-port': { type: 'string' },
      wait: { type: 'boolean' },
      'full-jit': { type: 'boolean' },
      timeout: { type: 'string' },
      grace: { type: 'string' },
      keyspace: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return command || values.help ? 0 : 2;
  }
  const dataDir = values['data-dir'] ?? DEFAULT_CLI_DATA_DIR;
  const layout = nodeLayout(dataDir);
  const int = (name: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got ${v}`);
    return n;
  };
  // Where clients should connect: explicit --port, else what the node saved on start.
  const cqlPort = () => int('port', values.port) ?? readSavedPorts(layout.stateFile)?.cqlPort ?? DEFAULT_CQL_PORT;
  const log = (line: string) => console.log(`cassandra: ${line}`);

  switch (command) {
    case 'fetch': {
      await fetchCassandra(log);
      return 0;
    }
    case 'start': {
      const sync = values['commitlog-sync'];
      if (sync !== undefined && !['batch', 'group', 'periodic'].includes(sync)) {
        throw new Error(`--commitlog-sync must be batch, group or periodic, got ${sync}`);
      }
      const paxos = values.paxos;
      if (paxos !== undefined && paxos !== 'v1' && paxos !== 'v2') throw new Error(`--paxos must be v1 or v2, got ${paxos}`);
      const t0 = Date.now();
      const h = await startCassandra({
        paxosVariant: paxos as PaxosVariant | undefined,
        dataDir,
        port: int('port', values.port),
        storagePort: int('storage-port', values['storage-port']),
        heap: values.heap,
        jit: values['full-jit'] ? 'full' : 'quick',
        commitlogSync: sync as CommitlogSync | undefined,
        jmxPort: int('jmx-port', values['jmx-port']),
        detached: true,
        wait: values.wait ?? false,
        waitTimeoutMs: (int('timeout', values.timeout) ?? 120) * 1000,
        log,
      });
      if (!values.wait) log(`logs: ${h.layout.systemLog}; run \`wait\` to block until CQL answers`);
      else log(`ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return 0;
    }
    case 'wait': {
      const port = cqlPort();
      log(`waiting for CQL on 127.0.0.1:${port}`);
      const ready = await waitForCql({
        port,
        timeoutMs: (int('timeout', values.timeout) ?? 120) * 1000,
        onProgress: log,
        // Only when this data dir has a node: `wait --port` may target one started elsewhere.
        isAlive: readSavedPorts(layout.stateFile)?.cqlPort === port ? () => runningPid(layout) !== null : undefined,
        logFiles: [layout.stdoutLog, layout.systemLog],
      });
      log(`Cassandra ${ready.releaseVersion} accepts CQL on 127.0.0.1:${port} (waited ${(ready.waitedMs / 1000).toFixed(1)} s)`);
      return 0;
    }
    case 'stop': {
      const stopped = await stopByPidFile(dataDir, { graceMs: (int('grace', values.grace) ?? 30) * 1000, log });
      log(stopped ? 'stopped' : `not running (no live pid in ${layout.pidFile})`);
      return 0;
    }
    case 'status': {
      const pid = runningPid(layout);
      const ports = readSavedPorts(layout.stateFile);
      const where = ports ? `CQL 127.0.0.1:${ports.cqlPort}, storage ${ports.storagePort}` : 'never started';
      log(`${pid === null ? 'stopped' : `running, pid ${pid}`}; ${where}; data ${layout.dataDir}`);
      // Exit 3 like LSB init scripts' "not running", so scripts can branch on it.
      return pid === null ? 3 : 0;
    }
    case 'exec': {
      const script = rest.join(' ');
      if (!script.trim()) throw new Error('exec needs a CQL string');
      await execCql(cqlPort(), script, values.keyspace);
      return 0;
    }
    default:
      process.stderr.write(`unknown command ${command}\n${USAGE}`);
      return 2;
  }
}

async function execCql(port: number, script: string, keyspace: string | undefined): Promise<void> {
  const client = new cassandra.Client({
    contactPoints: [`127.0.0.1:${port}`],
    localDataCenter: 'datacenter1',
    keyspace,
  });
  try {
    await client.connect();
    for (const stmt of splitCql(script)) {
      const rs = await client.execute(stmt);
      if (rs.columns && rs.columns.length > 0) {
        for (const row of rs.rows) console.log(JSON.stringify(rowObject(row)));
        console.log(`(${rs.rowLength} row${rs.rowLength === 1 ? '' : 's'})`);
      } else {
        console.log('ok');
      }
    }
  } finally {
    await client.shutdown();
  }
}

/** Driver values (Long, Uuid, InetAddress, LocalDate, Buffer …) as readable JSON. */
function rowObject(row: cassandra.types.Row): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of row.keys()) {
    const v: unknown = row.get(key);
    if (Buffer.isBuffer(v)) out[key] = '0x' + v.toString('hex');
    else if (v instanceof Date) out[key] = v.toISOString();
    else if (typeof v === 'bigint') out[key] = v.toString();
    else if (v !== null && typeof v === 'object' && !Array.isArray(v) && v.constructor !== Object && !(v instanceof Map) && !(v instanceof Set)) {
      out[key] = String(v);
    } else out[key] = v;
  }
  return out;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`cassandra: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
