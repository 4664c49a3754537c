/**
 * A reference Centrifugo v6 server on loopback, for the side-by-side fan-out bench
 * (benchmarks/reference/centrifugo_fanout.ts). Not a deployment: one process, memory
 * engine, a generated JSON config in a fresh temp dir, removed by stop().
 *
 *   const cf = await startCentrifugo();          // free port, fresh secrets
 *   FastWs.connect({ url: cf.wsUrl, ... });      // client protocol (centrifuge_proto.ts)
 *   cf.token('alice');                           // an HS256 connection JWT for user alice
 *   cf.pid;                                      // for /proc CPU accounting
 *   await cf.stop();                             // SIGTERM (SIGKILL after 10 s), temp dir removed
 *
 * The binary: $CENTRIFUGO_BIN, else ~/.cache/switchboard/centrifugo-v6.9.1/centrifugo
 * (built by ops/centrifugo/ensure-deps.sh with `go install`).
 *
 * The config (v6 key names, checked against the v6.9.1 source, internal/configtypes):
 * - http_server.address 127.0.0.1, port: a free one. Every endpoint (WebSocket at
 *   /connection/websocket, HTTP API at /api, /health) is on that one port.
 * - engine.type memory: no Redis; the fastest engine, single node.
 * - client.token.hmac_secret_key: a random secret; clients connect with an HS256 JWT whose
 *   `sub` is the user (token()), so connections are authenticated as Switchboard's are
 *   (not the insecure client mode).
 * - http_api.key: a random API key (publishApi() sends it as X-API-Key).
 * - channel.namespaces: one, `group` (channels `group:<name>`): allow_subscribe_for_client
 *   and allow_publish_for_client (any authenticated client may publish, as a group member
 *   sends without being its own receiver), history_size 10,000 (more than a step sends:
 *   300 msg/s for 8 s is 2,400) and history_ttl 1 h (longer than any run), so every
 *   message is kept as Switchboard keeps it. Centrifugo's history lives in memory (lost
 *   on restart); Switchboard's store is durable on disk: the reference does less work
 *   per message than the product.
 * - health.enabled (the readiness probe), usage_stats.disabled (no calls home), log.level
 *   warn (no per-connection lines).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../ops/etcd/etcd.js';

export const CENTRIFUGO_VERSION = 'v6.9.1';
/** The namespace the bench uses; channels are `group:<name>`. */
export const NAMESPACE = 'group';

export interface CentrifugoOptions {
  /** The binary. Default: $CENTRIFUGO_BIN, else the one ensure-deps.sh builds. */
  bin?: string;
  /** Messages kept per channel. Default 10,000 (more than one bench step sends). */
  historySize?: number;
  /** How long history is kept. Default 1 h (longer than any run). */
  historyTtl?: string;
  /** How long to wait for /health. Default 30 s (a loaded 2-core box). */
  startTimeoutMs?: number;
}

export interface CentrifugoHandle {
  readonly pid: number;
  readonly port: number;
  /** ws://127.0.0.1:<port>/connection/websocket (add the query the client needs). */
  readonly wsUrl: string;
  /** http://127.0.0.1:<port>/api */
  readonly apiUrl: string;
  readonly apiKey: string;
  readonly dir: string;
  readonly version: string;
  /** An HS256 connection JWT for `user`, valid for a day. */
  token(user: string): string;
  /** SIGTERM and wait (SIGKILL after 10 s); removes the temp dir. */
  stop(): Promise<void>;
}

export function centrifugoBin(): string {
  const bin = process.env.CENTRIFUGO_BIN || path.join(process.env.SWITCHBOARD_CACHE || path.join(os.homedir(), '.cache', 'switchboard'), `centrifugo-${CENTRIFUGO_VERSION}`, 'centrifugo');
  if (!existsSync(bin)) throw new Error(`no Centrifugo binary at ${bin}: run \`bash ops/centrifugo/ensure-deps.sh\` (or set CENTRIFUGO_BIN)`);
  return bin;
}

export async function startCentrifugo(o: CentrifugoOptions = {}): Promise<CentrifugoHandle> {
  const bin = o.bin ?? centrifugoBin();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sb-centrifugo-'));
  const port = await freePort();
  const secret = randomBytes(32).toString('hex');
  const apiKey = randomBytes(16).toString('hex');
  const config = {
    http_server: { address: '127.0.0.1', port },
    log: { level: 'warn' },
    engine: { type: 'memory' },
    client: { token: { hmac_secret_key: secret } },
    http_api: { key: apiKey },
    channel: {
      namespaces: [
        {
          name: NAMESPACE,
          allow_subscribe_for_client: true,
          allow_publish_for_client: true,
          history_size: o.historySize ?? 10_000,
          history_ttl: o.historyTtl ?? '1h',
        },
      ],
    },
    health: { enabled: true },
    usage_stats: { disabled: true },
  };
  const configFile = path.join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const logFile = path.join(dir, 'centrifugo.log');
  const out = openSync(logFile, 'a');
  const version = readVersion(bin);
  const proc: ChildProcess = spawn(bin, ['--config', configFile], { cwd: dir, stdio: ['ignore', out, out] });
  closeSync(out);
  let exited = false;
  const gone = new Promise<void>((r) => proc.once('exit', () => ((exited = true), r())));
  const logTail = (): string => readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
  const stop = async (): Promise<void> => {
    if (!exited) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (o.startTimeoutMs ?? 30_000);
  for (;;) {
    if (exited) {
      const tail = logTail();
      await stop();
      throw new Error(`centrifugo exited during start-up:\n${tail}`);
    }
    const ok = await fetch(`${base}/health`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      const tail = logTail();
      await stop();
      throw new Error(`centrifugo's /health did not answer in ${o.startTimeoutMs ?? 30_000} ms:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  return {
    pid: proc.pid!,
    port,
    wsUrl: `ws://127.0.0.1:${port}/connection/websocket`,
    apiUrl: `${base}/api`,
    apiKey,
    dir,
    version,
    token: (user) => hs256({ sub: user, exp: Math.floor(Date.now() / 1000) + 86_400 }, secret),
    stop,
  };
}

/** `centrifugo version`'s first line, e.g. "Centrifugo v6.9.1 (Go version: go1.26.8)". */
function readVersion(bin: string): string {
  return execFileSync(bin, ['version'], { encoding: 'utf8', timeout: 10_000 }).trim().split('\n')[0] ?? 'unknown';
}

/** A compact HS256 JWT (header.payload.signature, base64url). */
function hs256(claims: Record<string, unknown>, secret: string): string {
  const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}
