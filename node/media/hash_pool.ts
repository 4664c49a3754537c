/**
 * The media listener's task pool (piscina) for SHA-256 of finished uploads. Its own
 * pool rather than the host's: the media listener is a separate thread with its own
 * resources, and hashing must not queue behind (or ahead of) token verification.
 */
import { Piscina } from 'piscina';
import type { HashResult, HashTask } from './hash_task.js';

export class HashPool {
  private readonly pool: Piscina;

  constructor(threads: number) {
    this.pool = new Piscina({
      filename: new URL('./hash_boot.mjs', import.meta.url).href,
      minThreads: 1,
      maxThreads: threads,
      // Bounded: uploads finishing faster than they can be hashed wait here; past it the
      // finishing PATCH gets a retryable 503 and the client sends its last chunk again.
      maxQueue: 1_000,
    });
  }

  /** SHA-256 of the file (and, asked for, a PNG blurhash: the pool decodes the image too). */
  hash(file: string, opts: { blurhash?: boolean } = {}): Promise<HashResult> {
    const task: HashTask = opts.blurhash ? { file, blurhash: true } : file;
    return this.pool.run(task) as Promise<HashResult>;
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}
