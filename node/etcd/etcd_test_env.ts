/**
 * A real etcd for a test file: started in `before`, stopped in `after` (or the one at
 * $SB_ETCD_ENDPOINT). Each test takes a fresh key prefix so tests never see each
 * other's keys, and fresh clients, one per simulated node, closed by `closeAll`.
 */
import { after, before } from 'node:test';
import { randomUUID } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import { startEtcd, type EtcdHandle } from '../../ops/etcd/etcd.js';
import { makeEtcdClient } from './etcd_client.js';

export interface EtcdTestEnv {
  /** The running etcd (null when $SB_ETCD_ENDPOINT is used). */
  readonly etcd: EtcdHandle | null;
  readonly endpoint: string;
  /** A fresh key prefix for one test. */
  prefix(): string;
  /** A new client (one per simulated node); closed by `closeAll`. */
  client(): Etcd3;
  closeAll(): void;
}

export function etcdTestEnv(): EtcdTestEnv {
  let etcd: EtcdHandle | null = null;
  let endpoint = process.env.SB_ETCD_ENDPOINT ?? '';
  const clients: Etcd3[] = [];
  before(async () => {
    if (endpoint === '') {
      etcd = await startEtcd();
      endpoint = etcd.endpoint;
    }
  });
  after(async () => {
    for (const c of clients.splice(0)) c.close();
    await etcd?.stop();
  });
  return {
    get etcd() {
      return etcd;
    },
    get endpoint() {
      return endpoint;
    },
    prefix: () => `/sbtest/${randomUUID().slice(0, 8)}/`,
    client: () => {
      const c = makeEtcdClient(endpoint);
      clients.push(c);
      return c;
    },
    closeAll: () => {
      for (const c of clients.splice(0)) c.close();
    },
  };
}
