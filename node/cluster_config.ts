/**
 * The `cluster` section of a node's JSON config: what a node needs to join a cell.
 * node/config.ts validates it as part of the node's config; ops/cluster.ts writes it
 * for a local cell. It lives beside node/config.ts because it is the node's own schema
 * (ops/ may import node/, never the reverse), and outside node/cluster/ because
 * node/cluster/ reads node/config.ts (no folder cycle: docs/ARCHITECTURE.md).
 * Defaults are those of the components that read each value.
 */
export interface ClusterConfig {
  /** false (default): single node, embedded route table, no etcd. */
  enabled: boolean;
  etcd: {
    /** Client URLs, e.g. ["http://127.0.0.1:2379"]. */
    endpoints: string[];
    /** Key prefix of the cell (node/etcd/keys.ts). */
    prefix: string;
    /** The node lease TTL; a dead node's routes and shards move within ~TTL + 1.5 s. */
    leaseTtlSec: number;
  };
  peer: {
    /** host:port the cluster gRPC server binds (port 0 = any free port). */
    bind: string;
    /** host:port other nodes dial; published in membership. Empty = the bound address. */
    advertise: string;
  };
  /** Conversation shards; fixed for the life of the cell. */
  shards: { count: number };
  routes: { maxBatchOps: number; maxDelayMs: number; maxPending: number };
  links: { maxQueuedBytes: number; maxBatchBytes: number; heartbeatMs: number; deadAfterMs: number };
  fence: { mode: 'etcd' | 'lease'; safetyMarginMs: number };
}

export function defaultClusterConfig(): ClusterConfig {
  return {
    enabled: false,
    etcd: { endpoints: ['http://127.0.0.1:2379'], prefix: '/sb/v1/', leaseTtlSec: 5 },
    peer: { bind: '127.0.0.1:0', advertise: '' },
    shards: { count: 256 },
    routes: { maxBatchOps: 128, maxDelayMs: 10, maxPending: 50_000 },
    links: { maxQueuedBytes: 8 * 1024 * 1024, maxBatchBytes: 65_536, heartbeatMs: 1_000, deadAfterMs: 3_000 },
    fence: { mode: 'etcd', safetyMarginMs: 1_000 },
  };
}
