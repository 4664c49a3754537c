/**
 * The host's task pool (piscina) for CPU-heavy work off the socket threads: token
 * verification with asymmetric keys now, media hashing later. Supervised as a
 * service: piscina refills a dead worker itself and fails its in-flight task; if the
 * pool as a whole cannot start, the supervisor sees the service fail.
 */
import { Piscina } from 'piscina';
import type { Service } from '../../supervisor/index.js';
import { CatalogError } from '../../protocol/errors.js';
import type { AuthConfig } from '../auth/types.js';
import type { VerifyResult } from './verify_token_task.js';

export class TaskPool implements Service {
  private pool: Piscina | null = null;

  constructor(
    private readonly auth: AuthConfig,
    private readonly threads: number,
  ) {}

  async start(): Promise<void> {
    this.pool = new Piscina({
      filename: new URL('./pool_boot.mjs', import.meta.url).href,
      minThreads: 1,
      maxThreads: this.threads,
      // Bounded: a connect storm queues at most this many verifications; past it
      // clients are refused (and retry with backoff) instead of piling up memory.
      maxQueue: 10_000,
      workerData: { auth: this.auth },
    });
    // Warm one thread so the first connect does not pay the tsx boot.
    await this.pool.run('');
  }

  verifyToken(token: string): Promise<VerifyResult> {
    if (!this.pool) return Promise.reject(new CatalogError('unavailable', 'the task pool is restarting'));
    return this.pool.run(token) as Promise<VerifyResult>;
  }

  get stats(): { queued: number; threads: number; completed: number } {
    return { queued: this.pool?.queueSize ?? 0, threads: this.pool?.threads.length ?? 0, completed: this.pool?.completed ?? 0 };
  }

  async stop(): Promise<void> {
    await this.pool?.destroy();
    this.pool = null;
  }
}
