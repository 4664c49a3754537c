/**
 * `npm run bench -- blobs`: throughput of the two blob stores (node/media/BLOBS.md):
 * the filesystem store on a temp dir, and the S3 store against a local SeaweedFS
 * (ops/seaweedfs, started here; its start time is reported too).
 *
 *   npm run bench -- blobs [--stores fs,s3] [--mb 100] [--concurrency 4] [--smoke]
 *
 * For each store, for 100 KB blobs (a photo) and 10 MB blobs (a video): put, then get
 * (the whole stream read), --concurrency operations in flight, about --mb MB moved per
 * row (at least 8 blobs); plus 10 MB as a multi-part upload (beginUpload, 5 MiB parts,
 * completeUpload), the path resumable uploads take. MB/s is payload bytes over wall
 * time (1 MB = 10^6 bytes); p50/p99 per operation. Everything is on loopback on a
 * shared box: the figures compare the stores here, they are not a disk or network spec.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { checkKnown, num, str, type Flags } from '../ops/lib/args.js';
import { finishRun, startRun } from './lib/run_output.js';
import { startSeaweed, type SeaweedHandle } from '../ops/seaweedfs/seaweedfs.js';
import type { BlobStore } from '../node/media/blob_store.js';
import { FsBlobStore } from '../node/media/blob_store_fs.js';
import { S3BlobStore } from '../node/media/blob_store_s3.js';

interface Row {
  store: string;
  case: string;
  op: 'put' | 'get' | 'multipart put';
  blobs: number;
  bytes: number;
  mbPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

const MB = 1e6;
const MiB = 1024 * 1024;

function pct(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
}

/** Run `n` jobs with `conc` in flight; per-job ms and total wall ms. */
async function timed(n: number, conc: number, job: (i: number) => Promise<void>): Promise<{ wallMs: number; lat: number[] }> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(conc, n) }, async () => {
      while (next < n) {
        const i = next++;
        const t = performance.now();
        await job(i);
        lat.push(performance.now() - t);
      }
    }),
  );
  return { wallMs: performance.now() - t0, lat: lat.sort((a, b) => a - b) };
}

async function drain(body: Readable): Promise<number> {
  let n = 0;
  for await (const c of body) n += (c as Buffer).byteLength;
  return n;
}

async function benchStore(name: string, store: BlobStore, mb: number, conc: number): Promise<Row[]> {
  const rows: Row[] = [];
  const run = `bench/${Date.now()}`;
  const row = (c: string, op: Row['op'], blobs: number, size: number, t: { wallMs: number; lat: number[] }): Row => ({
    store: name,
    case: c,
    op,
    blobs,
    bytes: blobs * size,
    mbPerSec: Math.round(((blobs * size) / MB / (t.wallMs / 1000)) * 10) / 10,
    p50Ms: Math.round(pct(t.lat, 50) * 10) / 10,
    p99Ms: Math.round(pct(t.lat, 99) * 10) / 10,
  });
  for (const [label, size] of [['100 KB', 100_000], ['10 MB', 10_000_000]] as const) {
    const n = Math.max(8, Math.ceil((mb * MB) / size));
    // A few distinct bodies, reused: the bench measures the store, not randomBytes.
    const bodies = Array.from({ length: Math.min(n, 4) }, () => randomBytes(size));
    const key = (i: number): string => `${run}/${label.replace(' ', '')}/${i}`;
    const put = await timed(n, conc, async (i) => {
      // A stream in 64 KiB chunks, as an upload arrives from a socket.
      const b = bodies[i % bodies.length];
      await store.put(key(i), Readable.from(chunks(b, 65_536)), { size, contentType: 'application/octet-stream' });
    });
    rows.push(row(label, 'put', n, size, put));
    const get = await timed(n, conc, async (i) => {
      const r = await store.get(key(i));
      if (!r || (await drain(r.body)) !== size) throw new Error(`get ${key(i)}: wrong size`);
    });
    rows.push(row(label, 'get', n, size, get));
    for (let i = 0; i < n; i++) await store.delete(key(i));
  }
  // 10 MB through a multi-part upload in parts of the store's minimum (5 MiB): 2 parts.
  const size = 10_000_000;
  const n = Math.max(8, Math.ceil((mb * MB) / size));
  const body = randomBytes(size);
  const part = Math.max(store.minPartSize, 5 * MiB);
  const mp = await timed(n, conc, async (i) => {
    const key = `${run}/mp/${i}`;
    const id = await store.beginUpload(key, 'video/mp4');
    for (let off = 0, no = 1; off < size; off += part, no++) await store.uploadPart(key, id, no, body.subarray(off, Math.min(size, off + part)));
    const info = await store.completeUpload(key, id);
    if (info.size !== size) throw new Error(`multipart ${key}: ${info.size} bytes`);
  });
  rows.push(row('10 MB', 'multipart put', n, size, mp));
  for (let i = 0; i < n; i++) await store.delete(`${run}/mp/${i}`);
  return rows;
}

function* chunks(b: Buffer, n: number): Generator<Buffer> {
  for (let i = 0; i < b.length; i += n) yield b.subarray(i, i + n);
}

export async function runBlobs(flags: Flags, argv: string[]): Promise<unknown> {
  checkKnown(flags, ['stores', 'mb', 'concurrency', 'smoke', 'out']);
  const smoke = flags.has('smoke');
  const stores = str(flags, 'stores', 'fs,s3').split(',');
  const mb = num(flags, 'mb', smoke ? 1 : 100);
  const conc = num(flags, 'concurrency', 4);
  const { startedAt, machine } = startRun();
  const rows: Row[] = [];
  const notes: string[] = [];
  let seaweedStartMs: number | null = null;
  for (const s of stores) {
    if (s === 'fs') {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'sb-bench-blobs-'));
      try {
        const store = new FsBlobStore({ dir });
        rows.push(...(await benchStore('fs', store, mb, conc)));
        await store.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    } else if (s === 's3') {
      let sw: SeaweedHandle | null = null;
      try {
        sw = await startSeaweed();
        seaweedStartMs = sw.startMs;
        console.log(`seaweedfs ready in ${sw.startMs} ms`);
        const store = new S3BlobStore({ endpoint: sw.endpoint, region: sw.region, bucket: sw.bucket, accessKeyId: sw.accessKeyId, secretAccessKey: sw.secretAccessKey, forcePathStyle: true });
        rows.push(...(await benchStore('s3 (SeaweedFS, loopback)', store, mb, conc)));
        await store.close();
      } finally {
        await sw?.kill();
      }
    } else throw new Error(`--stores: unknown store ${JSON.stringify(s)} (fs, s3)`);
  }
  notes.push(`fs: temp file + fsync + rename + directory fsync per put; ${os.tmpdir()} on this box.`);
  if (seaweedStartMs !== null) notes.push(`s3: one local \`weed server\` (master, volume, filer, S3 gateway in one process) started in ${seaweedStartMs} ms; SigV4 on every request; the server competes with the bench for the 2 cores.`);
  const figures = { rows, seaweedStartMs, concurrency: conc };
  finishRun({
    scenario: 'blobs',
    startedAt,
    machine,
    argv,
    flags,
    config: { stores, mb, concurrency: conc },
    figures,
    tables: [
      {
        title: `blob stores: ${conc} operations in flight`,
        header: ['store', 'blob', 'op', 'blobs', 'MB', 'MB/s', 'p50 ms', 'p99 ms'],
        rows: rows.map((r) => [r.store, r.case, r.op, r.blobs, Math.round(r.bytes / MB), r.mbPerSec, r.p50Ms, r.p99Ms]),
      },
    ],
    charts: [
      {
        title: 'MB/s by store and operation (x: 1 = 100 KB put, 2 = 100 KB get, 3 = 10 MB put, 4 = 10 MB get, 5 = 10 MB multipart put)',
        xLabel: 'case',
        yLabel: 'MB/s',
        series: [...new Set(rows.map((r) => r.store))].map((s) => ({ label: s, points: rows.filter((r) => r.store === s).map((r, i) => [i + 1, r.mbPerSec] as [number, number]) })),
      },
    ],
    notes,
  });
  return figures;
}
