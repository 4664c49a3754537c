/**
 * `npm test`: every test of the project, in one run of node's test runner.
 *
 * Finds `*.test.ts` under the source folders and runs them with tsx. Multi-process
 * tests start their own nodes on loopback with temp data dirs; suites that need a
 * real Cassandra get one started once for the whole run (see ops/cassandra).
 *
 *   npm test                     everything
 *   npm test -- node/e2e         only files whose path contains one of the words
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(new URL('..', import.meta.url).pathname);
const FOLDERS = ['protocol', 'supervisor', 'shards', 'node', 'ops', 'benchmarks'];

function find(dir: string, out: string[]): void {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith('.test.ts')) out.push(path.relative(ROOT, p));
  }
}

const filters = process.argv.slice(2);
const files: string[] = [];
for (const f of FOLDERS) find(path.join(ROOT, f), files);
const chosen = files.sort().filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)));
if (chosen.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
console.error(`running ${chosen.length} test files`);

// One real Cassandra for the whole run (each test file uses its own keyspace).
const env = { ...process.env };
let cassandra: { kill(): Promise<unknown> } | null = null;
let cassandraDir = '';
if (chosen.some((f) => f.includes('cassandra')) && !env.SB_CASSANDRA_CONTACT) {
  const { startCassandra } = await import('./cassandra/index.js');
  cassandraDir = mkdtempSync(path.join(tmpdir(), 'sb-test-cassandra-'));
  const t0 = Date.now();
  console.error('starting Cassandra for this run...');
  const node = await startCassandra({ dataDir: cassandraDir, port: 0 });
  cassandra = node;
  env.SB_CASSANDRA_CONTACT = `${node.host}:${node.port}`;
  console.error(`Cassandra ready at ${env.SB_CASSANDRA_CONTACT} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

// Two at a time: the machine has two cores, and the e2e files each start node processes.
const args = ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...chosen];
const child = spawn(process.execPath, args, { cwd: ROOT, stdio: 'inherit', env });
child.on('exit', async (code, signal) => {
  if (cassandra) {
    await cassandra.kill().catch(() => {});
    rmSync(cassandraDir, { recursive: true, force: true });
  }
  process.exit(code ?? (signal ? 1 : 0));
});
