/**
 * Which java runs Cassandra. The JVM flags in jvm_args.ts are the Java 17 set
 * (jvm17-server.options), and 5.0 supports only 11 and 17, so a newer default java
 * (machines often have 21 or 25 too) must not be picked up by accident.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

const REQUIRED_MAJOR = 17;
let resolved: string | null = null;

/** Order: $CASSANDRA_JAVA (trusted as is), $JAVA_HOME, `java` on PATH, /usr/lib/jvm/*17*. */
export function resolveJava(): string {
  if (resolved) return resolved;
  const explicit = process.env.CASSANDRA_JAVA;
  if (explicit) return (resolved = explicit);
  const candidates: string[] = [];
  if (process.env.JAVA_HOME) candidates.push(path.join(process.env.JAVA_HOME, 'bin', 'java'));
  candidates.push('java');
  const jvmDir = '/usr/lib/jvm';
  if (existsSync(jvmDir)) {
    for (const d of readdirSync(jvmDir).sort()) {
      if (d.includes(String(REQUIRED_MAJOR))) candidates.push(path.join(jvmDir, d, 'bin', 'java'));
    }
  }
  const seen: string[] = [];
  for (const c of candidates) {
    const major = javaMajor(c);
    seen.push(`${c}: ${major ?? 'not runnable'}`);
    if (major === REQUIRED_MAJOR) return (resolved = c);
  }
  throw new Error(
    `Cassandra 5.0 here needs Java ${REQUIRED_MAJOR}; found ${seen.join(', ')}. ` +
      'Run ops/cassandra/ensure-deps.sh, or set CASSANDRA_JAVA to a Java 17 binary.',
  );
}

/** Major version from `java -version` ("17.0.15" → 17, legacy "1.8.0" → 8), null if it will not run. */
export function javaMajor(java: string): number | null {
  const r = spawnSync(java, ['-version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) return null;
  const m = /version "(\d+)(?:\.(\d+))?/.exec(r.stderr);
  if (!m) return null;
  const first = Number(m[1]);
  return first === 1 && m[2] ? Number(m[2]) : first;
}
