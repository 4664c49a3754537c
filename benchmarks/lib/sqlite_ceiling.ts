/**
 * The raw SQLite ceiling for the one-node bench: the node's own store
 * (node/store/sqlite_store.ts: its schema, its prepared insert statements, WAL,
 * synchronous=FULL, one IMMEDIATE transaction per commit) driven closed-loop with
 * message rows and nothing else: no sockets, no threads, no sequencing. Run at the
 * rows per commit the node reached, it is what the node's durable rate is compared with.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { SqliteStore } from '../../node/store/sqlite_store.js';
import type { WriteOp } from '../../node/store/types.js';

export interface CeilingResult {
  rowsPerCommit: number;
  commits: number;
  messages: number;
  msgsPerSec: number;
  /** CPU of this process per message (µs): SQLite's work plus the store's JS. */
  cpuUsPerMsg: number;
  commitMeanMs: number;
}

export async function sqliteCeiling(o: { rowsPerCommit: number; seconds: number; conversations: number; bodyBytes: number }): Promise<CeilingResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-ceiling-'));
  const store = new SqliteStore(path.join(dir, 'ceiling.db'));
  const rows = Math.max(1, Math.round(o.rowsPerCommit));
  const body = 'x'.repeat(o.bodyBytes);
  const seqs = new Array<number>(o.conversations).fill(0);
  let n = 0;
  let commits = 0;
  try {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const end = t0 + o.seconds * 1000;
    while (performance.now() < end) {
      const ops: WriteOp[] = new Array(rows);
      for (let k = 0; k < rows; k++) {
        const c = n % o.conversations;
        const seq = ++seqs[c];
        ops[k] = {
          kind: 'message',
          message: {
            conversation: `ceil-c${c}`,
            seq,
            // The node's ids are 26-character time-ordered strings: keep the row the same size.
            messageId: `m${String(n).padStart(25, '0')}`,
            sender: `ceil-s${c}`,
            senderDevice: 'd1',
            clientMsgId: `L${String(n).padStart(15, '0')}`,
            body,
            meta: {},
            serverTs: Date.now(),
          },
        };
        n++;
      }
      await store.commit(ops);
      commits++;
    }
    const wallMs = performance.now() - t0;
    const cu = process.cpuUsage(cpu0);
    return {
      rowsPerCommit: rows,
      commits,
      messages: n,
      msgsPerSec: Math.round((n / wallMs) * 1000),
      cpuUsPerMsg: Math.round(((cu.user + cu.system) / n) * 10) / 10,
      commitMeanMs: Math.round((wallMs / commits) * 1000) / 1000,
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
