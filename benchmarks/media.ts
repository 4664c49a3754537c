/**
 * Media attachments against a real node (node/main.ts started by the e2e harness on
 * loopback, filesystem blob store):
 *
 *  1. upload MB/s for 100 KB and 10 MB files: slot over the socket, then one tus PATCH
 *     per file until its 204 (the server has hashed, sniffed and stored it), `--concurrency`
 *     uploads in flight; then download MB/s of the same files through signed URLs;
 *  2. hash cost per MB in the task pool (node/media/hash_task.ts through HashPool): wall
 *     ms per MB and thread CPU ms per MB over a 64 MB file, and the node's own
 *     switchboard_media_hash_seconds for the uploads above;
 *  3. p99 of a small message send (send -> ack) at a fixed rate, alone and while 10 MB
 *     uploads run back to back: the message path must not suffer from media.
 *
 *   npm run bench -- media [--small 200] [--large 10] [--concurrency 4] [--rate 50] [--seconds 10] [--data-dir /dev/shm] [--smoke]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { checkKnown, num, type Flags } from '../ops/lib/args.js';
import { finishRun, startRun } from './lib/run_output.js';
import { spawn } from 'node:child_process';
import { ROOT } from '../ops/lib/results.js';
import { TestNode, openDirect, sleep, syncAll } from '../node/e2e/harness.js';
import type { TestClient } from '../protocol/client.js';
import { HashPool } from '../node/media/hash_pool.js';
import { jpegBytes, pngBytes, tusPatch } from '../node/media/media_test_kit.js';

const MB = 1024 * 1024;

interface Transfer {
  case: string;
  files: number;
  mb: number;
  uploadMbPerSec: number;
  uploadP50Ms: number;
  uploadP99Ms: number;
  downloadMbPerSec: number;
  downloadP50Ms: number;
  downloadP99Ms: number;
}

const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return +s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))].toFixed(2);
};

async function pool<T>(n: number, conc: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(conc, n) }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

async function uploadOne(c: TestClient, conv: string, bytes: Buffer, mime: string): Promise<{ mediaId: string; ms: number }> {
  const t0 = performance.now();
  const f = await c.call({ kind: { case: 'mediaSlot', value: { conversation: conv, size: BigInt(bytes.length), mime, sha256: '' } } }, 60_000);
  if (f.kind.case !== 'mediaSlot') throw new Error(`media_slot answered ${f.kind.case}`);
  const r = await tusPatch(f.kind.value.uploadUrl, 0, bytes);
  if (r.status !== 204) throw new Error(`upload answered ${r.status} ${r.body}`);
  return { mediaId: f.kind.value.mediaId, ms: performance.now() - t0 };
}

async function transfer(label: string, size: number, files: number, conc: number, alice: TestClient, bob: TestClient, conv: string): Promise<Transfer> {
  const blobs = Array.from({ length: files }, (_, i) => (i % 2 ? jpegBytes(size) : pngBytes(size)));
  const t0 = performance.now();
  const up = await pool(files, conc, (i) => uploadOne(alice, conv, blobs[i], i % 2 ? 'image/jpeg' : 'image/png'));
  const upMs = performance.now() - t0;
  // Referenced by a message, so the recipient may fetch them.
  await pool(files, conc, async (i) => {
    const a = await alice.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: `${label}-${i}`, body: '', media: { mediaId: up[i].mediaId } } } }, 60_000);
    if (a.kind.case !== 'sendAck') throw new Error(`send answered ${a.kind.case}`);
  });
  const t1 = performance.now();
  const down = await pool(files, conc, async (i) => {
    const s = performance.now();
    const u = await bob.call({ kind: { case: 'mediaUrl', value: { conversation: conv, mediaId: up[i].mediaId } } });
    if (u.kind.case !== 'mediaUrl') throw new Error(`media_url answered ${u.kind.case}`);
    const body = Buffer.from(await (await fetch(u.kind.value.url)).arrayBuffer());
    if (body.length !== size) throw new Error(`downloaded ${body.length} of ${size} bytes`);
    return performance.now() - s;
  });
  const downMs = performance.now() - t1;
  const total = (size * files) / MB;
  return {
    case: label,
    files,
    mb: +total.toFixed(1),
    uploadMbPerSec: +((total / upMs) * 1000).toFixed(1),
    uploadP50Ms: pct(up.map((u) => u.ms), 50),
    uploadP99Ms: pct(up.map((u) => u.ms), 99),
    downloadMbPerSec: +((total / downMs) * 1000).toFixed(1),
    downloadP50Ms: pct(down, 50),
    downloadP99Ms: pct(down, 99),
  };
}

/** send -> ack latencies of small messages at `rate`/s for `seconds`. */
async function sendLoop(c: TestClient, conv: string, rate: number, seconds: number, tag: string): Promise<number[]> {
  const lat: number[] = [];
  const n = rate * seconds;
  const t0 = performance.now();
  const inflight: Array<Promise<void>> = [];
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    // Open loop: latency counts from when the send was due, so a stalled node shows.
    inflight.push(
      c.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: `${tag}-${i}`, body: 'hello there' } } }, 60_000).then((f) => {
        if (f.kind.case !== 'sendAck') throw new Error(`send answered ${f.kind.case}: ${f.kind.case === 'error' ? f.kind.value.message : ''}`);
        lat.push(performance.now() - due);
      }),
    );
  }
  await Promise.all(inflight);
  return lat;
}

export async function runMedia(flags: Flags, argv: string[]): Promise<void> {
  checkKnown(flags, ['small', 'large', 'concurrency', 'rate', 'seconds', 'smoke', 'out', 'data-dir']);
  const smoke = flags.has('smoke');
  const small = num(flags, 'small', smoke ? 20 : 200);
  const large = num(flags, 'large', smoke ? 2 : 10);
  const conc = num(flags, 'concurrency', 4);
  const rate = num(flags, 'rate', 50);
  const seconds = num(flags, 'seconds', smoke ? 3 : 10);
  const { startedAt, machine } = startRun();

  // Send limits lifted: the bench measures latency at a fixed rate, not the per-sender buckets.
  const lift = { sendRatePerSec: 10_000, sendBurst: 10_000, frameRatePerSec: 10_000, frameBurst: 10_000, userSendRatePerSec: 10_000, userSendBurst: 10_000, conversationSendRatePerSec: 10_000, conversationSendBurst: 10_000, conversationSenderRatePerSec: 10_000, conversationSenderBurst: 10_000 };
  // --data-dir /dev/shm puts SQLite, staging and blobs on tmpfs: what is left is CPU, not the disk.
  const base = flags.get('data-dir');
  const dataDir = typeof base === 'string' ? mkdtempSync(path.join(base, 'sb-bench-media-')) : undefined;
  const node = await TestNode.start({ config: { media: { maxBytes: 64 * MB, quotaBytesPerDay: 0 }, limits: lift }, dataDir });
  const notes: string[] = [];
  try {
    const alice = await node.connect('bench-alice', 'phone');
    const bob = await node.connect('bench-bob', 'phone');
    const talker = await node.connect('bench-carol', 'phone');
    const conv = await openDirect(alice, 'bench-bob');
    const chat = await openDirect(talker, 'bench-dave');
    await syncAll(bob);

    // 1. throughput
    await transfer('warm-up', 100_000, 4, 2, alice, bob, conv);
    const rows = [await transfer('100 KB', 100_000, small, conc, alice, bob, conv), await transfer('10 MB', 10 * MB, large, conc, alice, bob, conv)];

    // 2. hash cost in the task pool, and the node's own figure
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sb-bench-hash-'));
    const file = path.join(dir, 'f');
    const hashMb = smoke ? 16 : 64;
    writeFileSync(file, randomBytes(hashMb * MB));
    const hp = new HashPool(1);
    await hp.hash(file); // warm: tsx boot, page cache
    const h0 = performance.now();
    let cpu = 0;
    const rounds = 3;
    for (let i = 0; i < rounds; i++) cpu += (await hp.hash(file)).cpuMs;
    const hashWall = (performance.now() - h0) / (rounds * hashMb);
    await hp.close();
    rmSync(dir, { recursive: true, force: true });
    const mediaBase = /media: (http:\/\/[^ )]+)\/media\/v1\//.exec(node.stdout)?.[1];
    const metrics = mediaBase ? await (await fetch(`${mediaBase}/metrics`)).text() : '';
    const sum = Number(/switchboard_media_hash_seconds_sum (\S+)/.exec(metrics)?.[1] ?? NaN);
    const count = Number(/switchboard_media_hash_seconds_count (\S+)/.exec(metrics)?.[1] ?? NaN);
    const uploadedMb = rows.reduce((n, r) => n + r.mb, 0) + (4 * 100_000) / MB;
    const hash = { wallMsPerMb: +hashWall.toFixed(2), cpuMsPerMb: +(cpu / (rounds * hashMb)).toFixed(2), nodeHashes: count, nodeMsPerMb: +((sum * 1000) / uploadedMb).toFixed(2) };

    // 3. small sends alone, then while 10 MB uploads run back to back
    const alone = await sendLoop(talker, chat, rate, seconds, 'alone');
    // The uploads come from a process of their own (benchmarks/media_uploader.ts): in this
    // one they would delay the latency measurement itself.
    const loader = spawn(
      process.execPath,
      ['--import', 'tsx', 'benchmarks/media_uploader.ts', '--http', node.httpUrl, '--key', node.apiKey, '--user', 'bench-alice', '--conversation', conv, '--concurrency', String(conc)],
      { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    let loaderOut = '';
    loader.stdout.on('data', (d: Buffer) => (loaderOut += d.toString()));
    const loaderExit = new Promise<number | null>((r) => loader.once('exit', r));
    await sleep(2_000); // its tsx boot and first uploads under way
    const loaded = await sendLoop(talker, chat, rate, seconds, 'loaded');
    loader.stdin.end();
    if ((await loaderExit) !== 0) throw new Error('the upload load process failed');
    const uploadedDuring = Number(loaderOut.trim());
    const sends = [
      { phase: 'alone', sends: alone.length, p50: pct(alone, 50), p99: pct(alone, 99), max: pct(alone, 100) },
      { phase: `${conc} x 10 MB uploads running`, sends: loaded.length, p50: pct(loaded, 50), p99: pct(loaded, 99), max: pct(loaded, 100) },
    ];
    notes.push(`while the sends ran, the load process finished ${uploadedDuring} uploads of 10 MB (${((uploadedDuring * 10) / (seconds + 2)).toFixed(1)} MB/s over its ${seconds + 2} s).`);
    notes.push(`one node (default shards = cores), SQLite + filesystem blob store in ${node.dataDir}; the bench client runs on the same 2-core box.`);
    for (const c of [alice, bob, talker]) c.close();

    finishRun({
      scenario: 'media',
      startedAt,
      machine,
      argv,
      flags,
      config: { small, large, concurrency: conc, rate, seconds },
      figures: { transfers: rows, hash, sends },
      tables: [
        {
          title: `media transfer: ${conc} in flight (upload = slot + one tus PATCH until stored; download = URL + GET)`,
          header: ['file', 'files', 'MB', 'upload MB/s', 'up p50 ms', 'up p99 ms', 'download MB/s', 'down p50 ms', 'down p99 ms'],
          rows: rows.map((r) => [r.case, r.files, r.mb, r.uploadMbPerSec, r.uploadP50Ms, r.uploadP99Ms, r.downloadMbPerSec, r.downloadP50Ms, r.downloadP99Ms]),
        },
        {
          title: 'SHA-256 in the hash pool (piscina, node/media/hash_task.ts)',
          header: ['wall ms/MB', 'thread CPU ms/MB', 'node: hashes', 'node: ms/MB (queue wait included)'],
          rows: [[hash.wallMsPerMb, hash.cpuMsPerMb, hash.nodeHashes, hash.nodeMsPerMb]],
        },
        {
          title: `small message send -> ack at ${rate}/s for ${seconds} s (open loop)`,
          header: ['phase', 'sends', 'p50 ms', 'p99 ms', 'max ms'],
          rows: sends.map((s) => [s.phase, s.sends, s.p50, s.p99, s.max]),
        },
      ],
      charts: [],
      notes,
    });
  } finally {
    await node.stop();
    node.cleanup();
  }
}
