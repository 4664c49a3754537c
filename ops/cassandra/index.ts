/**
 * Programmatic API for a local Cassandra 5.0 node (tests, benchmarks, dev tools).
 *
 *   const c = await startCassandra({ dataDir, port: 0 });   // resolves once CQL answers
 *   ... connect a driver to 127.0.0.1:c.port, datacenter 'datacenter1' ...
 *   await c.kill();                                          // crash it
 *   const c2 = await startCassandra({ dataDir });            // same data, same ports
 *   await c2.stop();
 *
 * Jars must be fetched first (`ensure-deps.sh` or `cassandra.ts fetch`).
 */
export { startCassandra, stopByPidFile, runningPid, DEFAULT_HEAP } from './daemon.js';
export type { CassandraHandle, ExitInfo, StartOptions } from './daemon.js';
export { waitForCql, CassandraStartError } from './wait_for_cql.js';
export type { CqlReady, WaitForCqlOptions } from './wait_for_cql.js';
export { fetchCassandra, cachedJars } from './fetch.js';
export type { CommitlogSync } from './config.js';
export type { JitMode } from './jvm_args.js';
export { CASSANDRA_VERSION, nodeLayout } from './layout.js';
/** SimpleSnitch's datacenter name: what drivers must pass as localDataCenter. */
export const LOCAL_DATACENTER = 'datacenter1';
