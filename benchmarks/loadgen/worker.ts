/**
 * A load-generator client process, forked by loadgen/pool.ts. It receives one job
 * (messages.ts), runs it over sockets bound to its own source address, reports
 * progress twice a second and sends one result. It never holds more sockets than its
 * job says; the coordinator keeps that under the per-process file limit.
 */
import { performance } from 'node:perf_hooks';
import type WebSocket from 'ws';
import { BenchConn } from '../lib/bench_conn.js';
import { minter } from '../lib/bench_node.js';
import { Latency } from '../lib/latency.js';
import { openFastPairs, closeFastPairs } from '../chat/fast_pairs.js';
import { FastOpenLoop } from '../chat/fast_loop.js';
import { openRaw } from './raw_conn.js';
import { emptyProgress, type FromWorker, type Job, type ToWorker, type WorkerInit, type WorkerResult } from './messages.js';

const post = (m: FromWorker): void => {
  process.send?.(m);
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let init: WorkerInit;
const p = emptyProgress();
const errorsByCode: Record<string, number> = {};
const count = (code: string): void => {
  errorsByCode[code] = (errorsByCode[code] ?? 0) + 1;
};
let onGo: () => void = () => {};
let onRelease: () => void = () => {};
const go = new Promise<void>((r) => (onGo = r));
const released = new Promise<void>((r) => (onRelease = r));

process.on('message', (m: ToWorker) => {
  if (m.t === 'init') {
    init = m.init;
    run(m.init.job).catch((e: Error) => {
      post({ t: 'failed', index: init.index, error: e.stack ?? String(e) });
      setTimeout(() => process.exit(1), 100);
    });
  } else if (m.t === 'go') onGo();
  else if (m.t === 'release') onRelease();
});
// The coordinator going away must not leave orphaned sockets behind.
process.on('disconnect', () => process.exit(0));

async function run(job: Job): Promise<void> {
  const ticker = setInterval(() => post({ t: 'progress', index: init.index, p: { ...p } }), 500);
  const cpu0 = process.cpuUsage();
  const w0 = performance.now();
  let r: Omit<WorkerResult, 'progress' | 'errorsByCode' | 'clientCpuPct'>;
  switch (job.kind) {
    case 'hold': r = await hold(job); break;
    case 'churn': r = await churn(job); break;
    case 'chat': r = await chat(job); break;
    case 'echo': r = await echo(job); break;
  }
  clearInterval(ticker);
  const cu = process.cpuUsage(cpu0);
  const clientCpuPct = Math.round(((cu.user + cu.system) / 1000 / (performance.now() - w0)) * 100);
  post({ t: 'done', index: init.index, r: { ...r, progress: { ...p }, errorsByCode, clientCpuPct } });
  setTimeout(() => process.exit(0), 200);
}

/** Run `n` tasks with at most `lanes` at once. */
async function lanes(n: number, width: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(width, n) }, lane));
}

async function hold(job: Extract<Job, { kind: 'hold' }>): Promise<Omit<WorkerResult, 'progress' | 'errorsByCode' | 'clientCpuPct'>> {
  const token = minter(init.secret);
  const socks: Array<{ close(): void } | null> = new Array(job.count).fill(null);
  let releasing = false;
  let lastReconnectAt = 0;
  const reconnectLat = new Latency();

  const openOne = async (i: number): Promise<void> => {
    const id = job.offset + i;
    const url = job.urls[id % job.urls.length];
    if (job.raw) {
      const ws: WebSocket = await openRaw(url, init.localAddress, 15_000, job.ca);
      socks[i] = ws;
      ws.on('close', () => dropped(i));
    } else {
      const c = await BenchConn.connect({ url, token: await token(`${init.tag}-h${id}`, 'd1'), localAddress: init.localAddress, ca: job.ca });
      socks[i] = c;
      c.onClose = () => dropped(i);
      await c.syncAll();
    }
    p.open++;
    p.connects++;
  };
  const dropped = (i: number): void => {
    if (socks[i] === null) return;
    socks[i] = null;
    p.open--;
    if (releasing) return;
    p.drops++;
    if (job.reconnect) void reconnect(i, Date.now());
  };
  // Jittered exponential backoff, as a real client would: a restarted node must not
  // see every socket come back in the same millisecond. Bounded to two minutes.
  const reconnect = async (i: number, since: number): Promise<void> => {
    let delay = 100;
    while (!releasing && Date.now() - since < 120_000) {
      await sleep(delay / 2 + Math.random() * delay);
      try {
        await openOne(i);
        p.reconnects++;
        lastReconnectAt = Date.now();
        reconnectLat.recordMs(lastReconnectAt - since);
        return;
      } catch {
        delay = Math.min(delay * 2, 2000);
      }
    }
    count('reconnect_gave_up');
  };

  await lanes(job.count, job.concurrency, async (i) => {
    try {
      await openOne(i);
    } catch (e) {
      p.failed++;
      count(classify(e));
    }
  });
  post({ t: 'ready', index: init.index, p: { ...p } });
  const t0 = performance.now();
  await released;
  releasing = true;
  for (const s of socks) s?.close();
  await sleep(300);
  return { histograms: { reconnect: reconnectLat.encode() }, elapsedMs: performance.now() - t0, lastReconnectAt };
}

async function churn(job: Extract<Job, { kind: 'churn' }>): Promise<Omit<WorkerResult, 'progress' | 'errorsByCode' | 'clientCpuPct'>> {
  const token = minter(init.secret);
  const lat = new Latency();
  // Tokens are minted up front so the measured path is connect -> welcome -> close.
  const users = 64;
  const tokens = await Promise.all(Array.from({ length: users }, (_, i) => token(`${init.tag}-c${i}`, 'd1')));
  post({ t: 'ready', index: init.index, p: { ...p } });
  await go;
  const total = Math.round((job.rate * job.durationMs) / 1000);
  const interval = 1000 / job.rate;
  let inflight = 0;
  const t0 = performance.now();
  const attempt = async (i: number, intended: number): Promise<void> => {
    inflight++;
    try {
      const c = await BenchConn.connect({ url: job.urls[i % job.urls.length], token: tokens[i % users], localAddress: init.localAddress });
      lat.recordMs(performance.now() - intended);
      p.connects++;
      c.close();
    } catch (e) {
      p.failed++;
      count(classify(e));
    } finally {
      inflight--;
    }
  };
  for (let i = 0; i < total; i++) {
    const intended = t0 + i * interval;
    const wait = intended - performance.now();
    if (wait > 0) await sleep(wait);
    // Bounded: past maxInflight the attempt is counted as failed instead of queued.
    if (inflight >= job.maxInflight) {
      p.failed++;
      count('client_inflight_cap');
      continue;
    }
    void attempt(i, intended);
  }
  const deadline = performance.now() + 15_000;
  while (inflight > 0 && performance.now() < deadline) await sleep(20);
  return { histograms: { connect: lat.encode() }, elapsedMs: performance.now() - t0 };
}

async function chat(job: Extract<Job, { kind: 'chat' }>): Promise<Omit<WorkerResult, 'progress' | 'errorsByCode' | 'clientCpuPct'>> {
  const pairs = await openFastPairs({ url: job.urls[init.index % job.urls.length], pairs: job.pairs, tag: init.tag, token: minter(init.secret), localAddress: init.localAddress, bodyBytes: job.bodyBytes });
  p.open = pairs.length * 2;
  p.connects = p.open;
  const loop = new FastOpenLoop(pairs);
  post({ t: 'ready', index: init.index, p: { ...p } });
  await go;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const res = await loop.run({
    rate: job.rate,
    durationSec: job.durationSec,
    drainMs: job.drainMs,
    onSecond: (s) => Object.assign(p, { sent: s.sent, acked: s.acked, delivered: s.delivered, errors: s.errors }),
  });
  const cu = process.cpuUsage(cpu0);
  Object.assign(p, { sent: res.sent, acked: res.acked, delivered: res.delivered, errors: Object.values(res.errors).reduce((a, b) => a + b, 0) });
  closeFastPairs(pairs);
  return { histograms: loop.encoded(), chat: res, elapsedMs: performance.now() - t0, measuredCpuSec: (cu.user + cu.system) / 1e6 };
}

async function echo(job: Extract<Job, { kind: 'echo' }>): Promise<Omit<WorkerResult, 'progress' | 'errorsByCode' | 'clientCpuPct'>> {
  const rtt = new Latency();
  const token = minter(init.secret);
  const payload = Buffer.alloc(job.payloadBytes, 120);
  type Echoer = { send: () => void; sentAt: number[]; close: () => void };
  const echoers: Echoer[] = [];
  let stopping = false;
  const onEcho = (e: Echoer): void => {
    const t = e.sentAt.shift();
    if (t === undefined) return;
    rtt.recordMs(performance.now() - t);
    p.acked++;
    if (!stopping) e.send();
  };
  await lanes(job.conns, 32, async (i) => {
    const url = job.urls[i % job.urls.length];
    if (job.raw) {
      const ws = await openRaw(url, init.localAddress);
      const e: Echoer = { sentAt: [], send: () => (e.sentAt.push(performance.now()), p.sent++, ws.send(payload)), close: () => ws.close() };
      ws.on('message', () => onEcho(e));
      echoers.push(e);
    } else {
      // Switchboard's echo is ping -> pong: the cheapest full round trip through the
      // protocol stack (decode, session, encode) without touching the store.
      const c = await BenchConn.connect({ url, token: await token(`${init.tag}-e${i}`, 'd1'), localAddress: init.localAddress });
      const e: Echoer = { sentAt: [], send: () => (e.sentAt.push(performance.now()), p.sent++, c.send({ kind: { case: 'ping', value: { ts: 1n } } })), close: () => c.close() };
      c.onFrame = (f) => {
        if (f.kind.case === 'pong') onEcho(e);
        else if (f.kind.case === 'error') count(f.kind.value.code);
      };
      echoers.push(e);
    }
    p.open++;
  });
  post({ t: 'ready', index: init.index, p: { ...p } });
  await go;
  const t0 = performance.now();
  for (const e of echoers) for (let k = 0; k < job.window; k++) e.send();
  await sleep(job.durationMs);
  stopping = true;
  const elapsedMs = performance.now() - t0;
  const done = p.acked;
  await sleep(200);
  for (const e of echoers) e.close();
  p.acked = done; // echoes after the window closed are not counted
  return { histograms: { rtt: rtt.encode() }, elapsedMs };
}

function classify(e: unknown): string {
  const msg = (e as Error)?.message ?? String(e);
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code) return code;
  if (msg.startsWith('upgrade refused')) return msg.replace('upgrade refused: ', '');
  if (msg.includes('welcome')) return 'no_welcome';
  if (msg.includes('closed with')) return msg;
  return msg.slice(0, 60);
}
