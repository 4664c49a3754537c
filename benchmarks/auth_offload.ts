/**
 * Does verifying EdDSA tokens in the piscina task pool pay off against verifying
 * them on the socket thread? Measures, on the calling thread (which stands for a
 * socket shard): verifications per second and that thread's event-loop delay
 * (p50/p99/max) — the delay every other socket on the shard would feel.
 *
 *   node --import tsx benchmarks/auth_offload.ts [--tokens 5000] [--concurrency 200]
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { cpus } from 'node:os';
import { createVerifier } from '../node/auth/verify.js';
import { signToken } from '../node/auth/sign.js';
import { edKey } from '../node/auth/fixtures.js';
import { TaskPool } from '../node/tasks/task_pool.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('tokens', 5000);
const CONC = arg('concurrency', 200);

const key = edKey('ed');
const auth = { clockToleranceSec: 5, ticketTtlMs: 30_000, keys: [key] };
const tokens = await Promise.all(Array.from({ length: N }, (_, i) => signToken({ user: `u${i}`, device: 'd', ttlSec: 3600 }, key)));

async function run(name: string, verify: (t: string) => Promise<unknown>): Promise<Record<string, string | number>> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONC }, async () => {
      while (next < N) await verify(tokens[next++]);
    }),
  );
  const ms = performance.now() - t0;
  h.disable();
  return {
    mode: name,
    'verifies/s': Math.round((N / ms) * 1000),
    'loop delay p50 ms': +(h.percentile(50) / 1e6).toFixed(2),
    'loop delay p99 ms': +(h.percentile(99) / 1e6).toFixed(2),
    'loop delay max ms': +(h.max / 1e6).toFixed(2),
  };
}

const inline = createVerifier(auth);
await run('warm-up', (t) => inline.verify(t));
const a = await run('inline (socket thread, jose)', (t) => inline.verify(t));
const pool = new TaskPool(auth, cpus().length);
await pool.start();
await run('warm-up', (t) => pool.verifyToken(t));
const b = await run(`piscina pool (${cpus().length} threads)`, (t) => pool.verifyToken(t));
await pool.stop();
console.log(`EdDSA token verification, ${N} tokens, ${CONC} in flight, ${cpus().length} cores`);
console.table([a, b]);
