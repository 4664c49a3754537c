/**
 * Graceful drain (SIGTERM or POST /admin/drain):
 *   1. stop accepting: /readyz answers 503, shards close their listen sockets;
 *   2. tell every client to reconnect elsewhere after a jittered delay (goaway,
 *      then close 4001); in-flight sends are retried by clients and deduped;
 *   3. flush the batch writer, so everything accepted is durable;
 *   4. stop the supervision tree in reverse order (shards, chat, store);
 *   5. exit 0 — or exit 1 if drain.deadlineMs passes first.
 */
import type { Supervisor } from '../../supervisor/index.js';
import { log, type Host } from './host.js';

let running: Promise<void> | null = null;

export function drainHost(host: Host, root: Supervisor, reason: string): Promise<void> {
  running ??= (async () => {
    const cfg = host.cfg.drain;
    log('info', 'draining', { reason });
    host.draining = true;
    const deadline = setTimeout(() => {
      log('error', 'drain deadline passed; exiting', { deadlineMs: cfg.deadlineMs });
      process.exit(1);
    }, cfg.deadlineMs);
    deadline.unref();
    const links = host.links.filter((l) => l !== undefined);
    await Promise.all(links.map((l) => Promise.race([l.drain(0, cfg.goawayJitterMs), sleep(2_000)])));
    await host.services.peek('writePath')?.flush();
    await root.stop();
    log('info', 'stopped', { reason });
    process.exit(0);
  })();
  return running;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
