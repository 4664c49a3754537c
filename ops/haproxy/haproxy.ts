/**
 * haproxy on loopback in front of N Switchboard nodes, for development and the
 * cluster launcher (ops/cluster.ts). Renders haproxy.cfg.tmpl and runs the Debian
 * haproxy binary in the foreground (-db) as a child process.
 *
 *   const hp = await startHaproxy({ backends: [{ name: 'node-1', host: '127.0.0.1', port: 8081 }], port: 0, dir });
 *   hp.url  // http://127.0.0.1:<port>; WebSocket clients use ws://.../v1/ws
 *   await hp.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../etcd/etcd.js';

export interface Backend {
  name: string;
  host: string;
  port: number;
}

export interface HaproxyOptions {
  backends: Backend[];
  /** Front port; 0 = a free one. */
  port?: number;
  host?: string;
  /** Where the config and log go. */
  dir: string;
  /** Health-check interval. 1000 ms: a draining node stops getting sockets within ~2 s. */
  checkMs?: number;
  /** Front connections. 4000 fits the default 20k fd limit (2 fds per proxied socket); raise both in production. */
  maxconn?: number;
  bin?: string;
}

export interface HaproxyHandle {
  readonly url: string;
  readonly port: number;
  readonly configFile: string;
  stop(): Promise<void>;
}

const TEMPLATE = new URL('./haproxy.cfg.tmpl', import.meta.url);

/** Fill the template. Pure: tests compare the text. */
export function renderConfig(tmpl: string, o: { bind: string; backends: Backend[]; checkMs: number; maxconn: number }): string {
  for (const b of o.backends) if (!/^[A-Za-z0-9._-]+$/.test(b.name)) throw new Error(`bad backend name ${b.name}`);
  const lines = o.backends.map((b) => `    server ${b.name} ${b.host}:${b.port} check`).join('\n');
  return tmpl
    .replaceAll('{{BIND}}', o.bind)
    .replaceAll('{{BACKENDS}}', lines)
    .replaceAll('{{CHECK_MS}}', String(o.checkMs))
    .replaceAll('{{MAXCONN}}', String(o.maxconn));
}

export async function startHaproxy(o: HaproxyOptions): Promise<HaproxyHandle> {
  mkdirSync(o.dir, { recursive: true });
  const host = o.host ?? '127.0.0.1';
  const port = o.port || (await freePort(host));
  const configFile = path.join(o.dir, 'haproxy.cfg');
  writeFileSync(configFile, renderConfig(readFileSync(TEMPLATE, 'utf8'), { bind: `${host}:${port}`, backends: o.backends, checkMs: o.checkMs ?? 1_000, maxconn: o.maxconn ?? 4_000 }));
  const bin = o.bin ?? process.env.HAPROXY_BIN ?? (await which('haproxy'));
  const check = spawn(bin, ['-c', '-f', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  check.stdout.on('data', (d) => (out += d));
  check.stderr.on('data', (d) => (out += d));
  const ok = await new Promise<number>((r) => check.on('exit', (c) => r(c ?? 1)));
  if (ok !== 0) throw new Error(`haproxy rejected ${configFile}:\n${out}`);
  const fd = openSync(path.join(o.dir, 'haproxy.log'), 'a');
  const child: ChildProcess = spawn(bin, ['-db', '-f', configFile], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const url = `http://${host}:${port}`;
  // Ready when the front port accepts.
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`haproxy exited (${child.exitCode}); see ${o.dir}/haproxy.log`);
    const up = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(500) }).then(() => true, () => false);
    if (up) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    port,
    configFile,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM'); // haproxy: SIGTERM = hard stop; SIGUSR1 = soft (drain)
      await gone;
    },
  };
}

async function which(name: string): Promise<string> {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin']) {
    const p = path.join(dir, name);
    try {
      readFileSync(p, { flag: 'r' }).subarray(0, 1);
      return p;
    } catch {
      // not here
    }
  }
  throw new Error(`${name} not found: run ops/etcd/ensure-deps.sh`);
}
