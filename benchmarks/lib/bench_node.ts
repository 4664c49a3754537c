/**
 * Starts a node under test. It reuses the e2e harness (a real `node/main.ts` process,
 * temp data dir, HS256 key) with a config tuned for load: per-connection rate limits
 * and the per-user / per-conversation send buckets are lifted so the benchmark
 * measures the node, not its abuse guards.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TestNode } from '../../node/e2e/harness.js';
import { signToken } from '../../node/auth/sign.js';
import { merge } from '../../node/config.js';
import type { KeySpec } from '../../node/auth/types.js';

export const BENCH_LIMITS = {
  sendRatePerSec: 1_000_000,
  sendBurst: 1_000_000,
  frameRatePerSec: 1_000_000,
  frameBurst: 1_000_000,
  maxInflightSends: 100_000,
  // The per-user and per-conversation send buckets too: load generators send thousands
  // of msg/s from a few users into a few conversations.
  userSendRatePerSec: 1_000_000,
  userSendBurst: 1_000_000,
  conversationSendRatePerSec: 1_000_000,
  conversationSendBurst: 1_000_000,
  conversationSenderRatePerSec: 1_000_000,
  conversationSenderBurst: 1_000_000,
};

export interface BenchNodeOptions {
  shards?: number;
  /** Extra config deep-merged over the bench defaults. */
  config?: Record<string, unknown>;
  nodeId?: string;
  /** Share one HS256 secret across nodes so one token works on any of them. */
  secret?: string;
  /** Extra environment for the node process (the thread probe: node_probe.ts). */
  env?: Record<string, string>;
}

export function benchConfig(o: BenchNodeOptions): Record<string, unknown> {
  const base = {
    node: { id: o.nodeId ?? 'bench-node' },
    limits: BENCH_LIMITS,
    log: { level: 'warn' },
    ...(o.shards ? { shards: { count: o.shards } } : {}),
  };
  return merge(base, o.config ?? {}) as Record<string, unknown>;
}

export async function startBenchNode(o: BenchNodeOptions = {}): Promise<TestNode> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sb-bench-'));
  return TestNode.start({ config: benchConfig(o), dataDir, secret: o.secret, env: o.env });
}

/** A token minter bound to one secret; the spec object is reused so the key is imported once. */
export function minter(secret: string): (user: string, device: string) => Promise<string> {
  const spec: KeySpec = { kid: 'test', alg: 'HS256', secret };
  return (user, device) => signToken({ user, device, ttlSec: 24 * 3600 }, spec);
}
