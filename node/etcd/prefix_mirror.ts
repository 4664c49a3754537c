/**
 * PrefixMirror: keep a local copy of everything under an etcd prefix.
 *
 * Read the prefix (in pages, all at one revision R), hand the snapshot to `reset`,
 * then watch from R+1 and hand every event to `put`/`del`. When the watch stream is
 * lost (`disconnected`: etcd restarted, the connection dropped) or cancelled (the
 * revision to resume from was compacted away, etcd lost its data), the mirror reads
 * the whole prefix again, retrying until etcd answers: `reset` gets the new snapshot
 * and must diff. (etcd3's own watch resumption after an etcd restart was seen to
 * leave a watcher that never delivers another event, so it is not relied on.)
 */
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';

export interface MirrorHandler {
  /** A full snapshot (start, or after a lost watch). */
  reset(kvs: IKeyValue[], revision: number): void;
  put(kv: IKeyValue): void;
  del(kv: IKeyValue): void;
}

/** The smallest key greater than every key with this prefix (etcd's range_end). */
export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i] < 0xff) {
      const out = Buffer.from(b.subarray(0, i + 1));
      out[i]++;
      return out;
    }
  }
  return Buffer.from([0]);
}

/** Read every key under `prefix` at one revision, `pageSize` keys per request. */
export async function scanPrefix(client: Etcd3, prefix: string, pageSize = 5_000): Promise<{ revision: number; kvs: IKeyValue[] }> {
  const end = prefixEnd(prefix);
  let from = Buffer.from(prefix);
  let revision = 0;
  const kvs: IKeyValue[] = [];
  for (;;) {
    const res = await client.kv.range({ key: from, range_end: end, limit: pageSize, revision: revision || undefined });
    if (revision === 0) revision = Number(res.header.revision);
    kvs.push(...res.kvs);
    if (!res.more || res.kvs.length === 0) return { revision, kvs };
    from = Buffer.concat([res.kvs[res.kvs.length - 1].key, Buffer.from([0])]);
  }
}

export class PrefixMirror {
  private watcher: Watcher | null = null;
  private stopped = false;
  private resyncing: Promise<void> | null = null;
  /** Full re-reads done (the first one included). */
  resyncs = 0;

  constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
    private readonly handler: MirrorHandler,
    private readonly log?: (line: string) => void,
  ) {}

  /** Resolves after the first snapshot was handed over and the watch is open. */
  start(): Promise<void> {
    return this.resync(false);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const w = this.watcher;
    this.watcher = null;
    await w?.cancel().catch(() => undefined);
  }

  /** Read everything again and re-open the watch (also used by tests). */
  resync(retry = true): Promise<void> {
    this.resyncing ??= this.resyncLoop(retry).finally(() => (this.resyncing = null));
    return this.resyncing;
  }

  private async resyncLoop(retry: boolean): Promise<void> {
    let backoff = 100;
    while (!this.stopped) {
      try {
        const old = this.watcher;
        this.watcher = null;
        // Cancelling a watch on a lost stream may wait for etcd: do not wait long.
        if (old) await Promise.race([old.cancel().catch(() => undefined), new Promise((r) => setTimeout(r, 1_000))]);
        const { revision, kvs } = await scanPrefix(this.client, this.prefix);
        if (this.stopped) return;
        this.resyncs++;
        this.handler.reset(kvs, revision);
        const w = await this.client.watch().prefix(this.prefix).startRevision(String(revision + 1)).create();
        if (this.stopped) {
          await w.cancel();
          return;
        }
        this.watcher = w;
        w.on('put', (kv) => this.handler.put(kv));
        w.on('delete', (kv) => this.handler.del(kv));
        w.on('error', (e) => {
          if (this.watcher !== w) return;
          this.log?.(`watch on ${this.prefix} cancelled (${e.message}); re-reading`);
          void this.resync();
        });
        w.on('disconnected', (e) => {
          if (this.watcher !== w) return;
          this.log?.(`watch on ${this.prefix} lost (${e.message}); re-reading once etcd answers`);
          void this.resync();
        });
        return;
      } catch (e) {
        if (!retry) throw e;
        this.log?.(`re-read of ${this.prefix} failed (${(e as Error).message}); retry in ${backoff} ms`);
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 2_000);
      }
    }
  }
}
