/**
 * piscina task: SHA-256 of a staged upload file (and its byte count), streamed from
 * disk in 1 MiB reads. Runs in the media listener's hash pool (node/media/hash_pool.ts)
 * so that hashing a 100 MiB upload never takes the event loop of the thread that
 * serves uploads and downloads, let alone a socket thread.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { blurhashOfPng } from './blurhash.js';

export interface HashResult {
  sha256: string;
  size: number;
  /** Thread CPU spent, for the benchmark's cost per MB. */
  cpuMs: number;
  /** The blurhash when asked for one and the file is a decodable PNG; '' otherwise. */
  blurhash: string;
}

/** The task's argument: a file, or a file and whether to compute a PNG blurhash too. */
export type HashTask = string | { file: string; blurhash: boolean };

export default async function hashFile(task: HashTask): Promise<HashResult> {
  const { file, blurhash } = typeof task === 'string' ? { file: task, blurhash: false } : task;
  const t0 = process.cpuUsage();
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  // The same pool thread decodes the PNG: CPU work that must not land on the listener's loop.
  const hash = blurhash ? blurhashOfPng(await readFile(file)) : '';
  const cpu = process.cpuUsage(t0);
  return { sha256: h.digest('hex'), size, cpuMs: (cpu.user + cpu.system) / 1000, blurhash: hash };
}
