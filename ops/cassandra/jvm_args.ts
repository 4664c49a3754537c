/**
 * The java command line for CassandraDaemon, taken from the reference
 * conf/jvm-server.options + conf/jvm17-server.options + cassandra-env.sh of 5.0,
 * minus what only pays off on big long-lived hosts, plus the startup shortcuts a
 * single test node can take. Pure: the caller spawns it.
 */
import path from 'node:path';
import type { NodeLayout } from './layout.js';

export interface JvmOptions {
  readonly layout: NodeLayout;
  readonly libDir: string;
  readonly jars: readonly string[];
  /** -Xms and -Xmx, e.g. '1G'. Equal on purpose: no heap resizing pauses. */
  readonly heap: string;
  /**
   * 'quick' stops the JIT at C1 (-XX:TieredStopAtLevel=1): measured here, startup CPU
   * drops from ~9–11 s to ~5 s, which on a 2-core box shared with the tests is most of
   * the wall time; the price is lower peak throughput. 'full' is the normal tiered JIT:
   * use it for benchmarks and anything long-running.
   */
  readonly jit: JitMode;
  /** Opens JMX on loopback (for nodetool); off by default so parallel nodes never clash on 7199. */
  readonly jmxPort?: number;
  readonly extraArgs?: readonly string[];
}

export type JitMode = 'quick' | 'full';

export const MAIN_CLASS = 'org.apache.cassandra.service.CassandraDaemon';

/** Java 17 module access Cassandra 5.0 needs (verbatim set from jvm17-server.options). */
const JPMS = [
  '--add-exports', 'java.base/jdk.internal.misc=ALL-UNNAMED',
  '--add-exports', 'java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED',
  '--add-exports', 'java.rmi/sun.rmi.registry=ALL-UNNAMED',
  '--add-exports', 'java.rmi/sun.rmi.server=ALL-UNNAMED',
  '--add-exports', 'java.sql/java.sql=ALL-UNNAMED',
  '--add-exports', 'java.base/java.lang.ref=ALL-UNNAMED',
  '--add-exports', 'jdk.unsupported/sun.misc=ALL-UNNAMED',
  '--add-exports', 'jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED',
  '--add-exports', 'jdk.attach/sun.tools.attach=ALL-UNNAMED',
  '--add-opens', 'java.base/java.lang.module=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.loader=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.ref=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.reflect=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.math=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.module=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.util.jar=ALL-UNNAMED',
  '--add-opens', 'jdk.management/com.sun.management.internal=ALL-UNNAMED',
  '--add-opens', 'java.base/sun.nio.ch=ALL-UNNAMED',
  '--add-opens', 'java.base/java.io=ALL-UNNAMED',
  '--add-opens', 'java.base/java.lang.reflect=ALL-UNNAMED',
  '--add-opens', 'jdk.compiler/com.sun.tools.javac=ALL-UNNAMED',
  '--add-opens', 'java.base/java.lang=ALL-UNNAMED',
  '--add-opens', 'java.base/java.util=ALL-UNNAMED',
];

/** G1 as in jvm17-server.options. */
const GC = [
  '-XX:+UseG1GC',
  '-XX:+ParallelRefProcEnabled',
  '-XX:MaxTenuringThreshold=1',
  '-XX:G1HeapRegionSize=16m',
  '-XX:G1RSetUpdatingPauseTimePercent=5',
  '-XX:MaxGCPauseMillis=300',
  '-XX:InitiatingHeapOccupancyPercent=70',
];

export function jvmArgs(o: JvmOptions): string[] {
  const { layout } = o;
  const jamm = o.jars.find((j) => /^jamm-.*\.jar$/.test(j));
  const args = [
    `-Xms${o.heap}`,
    `-Xmx${o.heap}`,
    // Upstream runs with assertions on ("highly suggested"); openhft's are off because
    // they exhaust memory by design.
    '-ea',
    '-da:net.openhft...',
    '-Xss256k',
    '-XX:+UseThreadPriorities',
    '-XX:+UseTLAB',
    '-XX:+ResizeTLAB',
    '-XX:+PerfDisableSharedMem',
    '-XX:+HeapDumpOnOutOfMemoryError',
    // Cassandra's startup check asks for this: a JVM limping on after an OOM can corrupt data.
    '-XX:+ExitOnOutOfMemoryError',
    `-XX:HeapDumpPath=${layout.logDir}`,
    `-XX:ErrorFile=${path.join(layout.logDir, 'hs_err_%p.log')}`,
    // Not taken from jvm-server.options: -XX:+AlwaysPreTouch (faults in the whole heap
    // before main(), ~0.5 s per GiB for nothing on a test node) and -XX:+UseNUMA.
    ...(o.jit === 'quick' ? ['-XX:TieredStopAtLevel=1'] : []),
    ...GC,
    ...JPMS,
    '-Djdk.attach.allowAttachSelf=true',
    '-Djava.net.preferIPv4Stack=true',
    '-Dio.netty.tryReflectionSetAccessible=true',
    '-Dio.netty.allocator.useCacheForAllThreads=true',
    '-Dio.netty.allocator.maxOrder=11',
    // jamm measures object sizes for memtable accounting; cassandra-env.sh always loads
    // it as an agent, and without it 5.0 falls back to slower, rougher estimates.
    ...(jamm ? [`-javaagent:${path.join(o.libDir, jamm)}`] : []),
    `-Dcassandra.config=file://${layout.yamlFile}`,
    `-Dlogback.configurationFile=${layout.logbackFile}`,
    `-Dcassandra.logdir=${layout.logDir}`,
    `-Dcassandra.storagedir=${layout.dataDir}`,
    // Keep stdout/stderr open after startup so late errors reach logs/stdout.log.
    '-Dcassandra-foreground=yes',
    // Startup shortcuts that are safe only because the node is alone: there is no
    // gossip to settle and no ring to wait for.
    '-Dcassandra.skip_wait_for_gossip_to_settle=0',
    '-Dcassandra.ring_delay_ms=100',
    // Drain sleeps this long after telling peers it is going down; alone, nobody listens.
    // Saves 2 s on every stop.
    '-Dcassandra.shutdown_announce_in_ms=0',
    // At startup the skip-list memtable measures its per-row overhead by building this
    // many rows (default 100 000: ~1 s of CPU here). 1 000 gives the same estimate (181 B).
    '-Dcassandra.memtable_row_overhead_computation_step=1000',
    ...(o.jmxPort === undefined
      ? []
      : [`-Dcassandra.jmx.local.port=${o.jmxPort}`, '-Dcom.sun.management.jmxremote.authenticate=false']),
    ...(o.extraArgs ?? []),
    // Jars only: config is passed by path above, and a directory on the classpath would
    // also rule out a class-data-sharing archive.
    '-cp',
    path.join(o.libDir, '*'),
    MAIN_CLASS,
  ];
  return args;
}
