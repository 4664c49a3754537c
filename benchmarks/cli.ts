/**
 * `npm run bench -- <scenario> [flags]`. Each scenario prints progress once a second,
 * a summary table at the end, and writes results/<timestamp>-<scenario>/result.json
 * and report.html. See benchmarks/README.md for what each one measures.
 */
import { parseFlags } from '../ops/lib/args.js';
import { runOneNode } from './one_node.js';
import { runSoak } from './scenarios/soak.js';
import { runConnMemory } from './scenarios/conn_memory.js';
import { runEcho } from './scenarios/echo.js';
import { runChat } from './scenarios/chat.js';
import { runChurn } from './scenarios/churn.js';
import { runStorm } from './scenarios/storm.js';
import { runCassandraCosts } from './cassandra_costs.js';
import { runCassandraWrites } from './cassandra_writes.js';
import { runCrossNode } from './cross_node.js';
import { runFuzz } from './fuzz.js';
import { runPush } from './push.js';
import { runBlobs } from './blob_store.js';
import { runMedia } from './media.js';

type Scenario = { about: string; run: (flags: ReturnType<typeof parseFlags>, argv: string[]) => Promise<unknown> };

const SCENARIOS: Record<string, Scenario> = {
  'one-node': { about: 'open-loop 1:1 chat against one node: durable msg/s, send->ack / send->deliver percentiles (--find-max steps the rate up)', run: runOneNode },
  soak: { about: 'N idle authenticated connections (over worker processes and nodes): RSS over time, memory per connection vs bare uWS / ws', run: runSoak },
  'conn-memory': { about: 'memory per idle connection, two phases (N1 then N2 connections) with a forced GC in every server thread before each RSS reading; Switchboard vs bare uWS, ws and wss', run: runConnMemory },
  chat: { about: 'the one-node chat load distributed over client worker processes (--workers)', run: runChat },
  churn: { about: 'connect -> welcome -> close at a fixed rate: connect latency, failures, RSS drift', run: runChurn },
  storm: { about: 'N connections, kill (or SIGTERM) and restart the node: time until every client reconnected and resynced', run: runStorm },
  echo: { about: 'echo round trips/s vs bare uWS and ws servers (Switchboard via ping/pong), as ratios', run: runEcho },
  'cassandra-costs': { about: 'what a write costs Cassandra per request, per mutation and per row (CPU), and the best ratio batching can reach', run: (_f, argv) => runCassandraCosts(argv.slice(2)) },
  'cassandra-writes': { about: 'durable writes/s into a local Cassandra: batched writer vs one statement per message, p50/p99', run: (_f, argv) => runCassandraWrites(argv.slice(2)) },
  'auth-offload': { about: 'EdDSA token verification on the socket thread vs the piscina task pool (verifies/s, loop delay)', run: () => import('./auth_offload.js') },
  'cross-node': { about: '3-node cell (etcd, Cassandra, haproxy): 1:1 send->deliver with sender/recipient/owner on one node vs across nodes (the added hop), 1024-member group fan-out over 3 nodes', run: runCrossNode },
  fuzz: { about: 'property fuzzing of the client frame decoders and the session state machine (fast-check model): --frames 1000000 generated frames, frames/s, replies by error code', run: runFuzz },
  blobs: { about: 'blob stores (media bytes): put / get / multipart MB/s and p50/p99 for 100 KB and 10 MB blobs, filesystem store vs S3 store on a local SeaweedFS', run: runBlobs },
  media: { about: 'media attachments on one node: upload / download MB/s for 100 KB and 10 MB files (tus + signed GET), SHA-256 cost per MB in the hash pool, p99 of small sends while 10 MB uploads run', run: runMedia },
  push: { about: 'push notifications: pushes/s through the durable push outbox to a local fake APNs, message->push latency p50/p99', run: runPush },
  'shard-spread': { about: 'how SO_REUSEPORT spreads connections over a node\'s socket shards', run: () => import('./shard_spread.js') },
};

function usage(): string {
  return [
    'usage: npm run bench -- <scenario> [flags]   (every scenario takes --smoke for a run of a few seconds)',
    '',
    ...Object.entries(SCENARIOS).map(([k, s]) => `  ${k.padEnd(10)} ${s.about}`),
  ].join('\n');
}

const [name, ...rest] = process.argv.slice(2);
const scenario = name ? SCENARIOS[name] : undefined;
if (!scenario) {
  console.error(name && name !== '--help' ? `unknown scenario ${JSON.stringify(name)}\n\n${usage()}` : usage());
  process.exit(name && name !== '--help' ? 2 : 0);
}
try {
  await scenario.run(parseFlags(rest), ['bench', name, ...rest]);
  process.exit(0);
} catch (e) {
  console.error(`bench ${name}: ${(e as Error).stack ?? e}`);
  process.exit(1);
}
