/**
 * Where the local Cassandra's files live. One place, so the CLI, the programmatic
 * API and ensure-deps.sh agree on paths.
 *
 *   .cache/cassandra/            (git-ignored, shared by every node on this machine)
 *     pom.xml                    generated; only used by `fetch`
 *     lib/                       cassandra-all + runtime deps, plus lib/.fetched stamp
 *     node/                      default data dir of the CLI (`start` without --data-dir)
 *
 *   <dataDir>/                   one node: everything it writes, nothing else
 *     node.json                  ports chosen on first start, reused on restart
 *     conf/cassandra.yaml        regenerated on every start
 *     conf/logback.xml
 *     data/ commitlog/ hints/ saved_caches/ cdc_raw/
 *     logs/system.log            Cassandra's own log (INFO)
 *     logs/stdout.log            the JVM's stdout/stderr (startup crashes land here)
 *     cassandra.pid
 */
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/**
 * Newest 5.0.x that Maven Central served when this was written (its
 * maven-metadata.xml listed 5.0.0 … 5.0.9). Pinned, not a range: a range would make
 * `fetch` ask the network every time and break the offline second run.
 */
export const CASSANDRA_VERSION = '5.0.9';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CACHE_DIR = path.join(REPO_ROOT, '.cache', 'cassandra');
export const LIB_DIR = path.join(CACHE_DIR, 'lib');
/** Written last by `fetch`; its presence (with the right version) means lib/ is complete. */
export const FETCH_STAMP = path.join(LIB_DIR, '.fetched');
export const DEFAULT_CLI_DATA_DIR = path.join(CACHE_DIR, 'node');

export interface NodeLayout {
  readonly dataDir: string;
  readonly confDir: string;
  readonly yamlFile: string;
  readonly logbackFile: string;
  readonly logDir: string;
  readonly systemLog: string;
  readonly stdoutLog: string;
  readonly pidFile: string;
  readonly stateFile: string;
}

export function nodeLayout(dataDir: string): NodeLayout {
  const abs = path.resolve(dataDir);
  const confDir = path.join(abs, 'conf');
  const logDir = path.join(abs, 'logs');
  return {
    dataDir: abs,
    confDir,
    yamlFile: path.join(confDir, 'cassandra.yaml'),
    logbackFile: path.join(confDir, 'logback.xml'),
    logDir,
    systemLog: path.join(logDir, 'system.log'),
    stdoutLog: path.join(logDir, 'stdout.log'),
    pidFile: path.join(abs, 'cassandra.pid'),
    stateFile: path.join(abs, 'node.json'),
  };
}
