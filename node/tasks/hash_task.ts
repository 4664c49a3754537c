/**
 * piscina task: SHA-256 of a staged upload file (and its byte count), streamed from
 * disk in 1 MiB reads. Runs in the media listener's hash pool (node/media/hash_pool.ts)
 * so that hashing a 100 MiB upload never takes the event loop of the thread that
 * serves uploads and downloads, let alone a socket thread.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export interface HashResult {
  sha256: string;
  size: number;
  /** Thread CPU spent, for the benchmark's cost per MB. */
  cpuMs: number;
}

export default async function hashFile(file: string): Promise<HashResult> {
  const t0 = process.cpuUsage();
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  const cpu = process.cpuUsage(t0);
  return { sha256: h.digest('hex'), size, cpuMs: (cpu.user + cpu.system) / 1000 };
}
