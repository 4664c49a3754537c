/**
 * What the SQLite store's own settings cost per message (issue 14, item 1): the node's
 * schema and its two inserts per message (messages, dedup), WAL, synchronous=FULL, one
 * IMMEDIATE transaction per commit, driven closed loop at several rows per commit, once
 * per setting, alternating in one process. CPU from process.cpuUsage(), split into user
 * and kernel: on this box most of a row's cost is the kernel's (the WAL frame writes).
 *
 *   node --import tsx benchmarks/sqlite_knobs.ts [--rows 8,23,64,256] [--seconds 2] [--rounds 3]
 *
 * Settings compared:
 *   before      named parameters, wal_autocheckpoint 1,000 (SQLite's default): the store until issue 14
 *   positional  positional parameters (no object per row), checkpoint 1,000
 *   now         positional, wal_autocheckpoint 10,000 (node/store/sqlite_store.ts WAL_AUTOCHECKPOINT_PAGES)
 * Median of the rounds per cell.
 */
import { parseArgs } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { migrate } from '../node/store/sqlite_schema.js';
import { WAL_AUTOCHECKPOINT_PAGES } from '../node/store/sqlite_store.js';
import { table } from './lib/table.js';

interface Setting {
  name: string;
  positional: boolean;
  checkpointPages: number;
}

const SETTINGS: Setting[] = [
  { name: 'before', positional: false, checkpointPages: 1000 },
  { name: 'positional', positional: true, checkpointPages: 1000 },
  { name: 'now', positional: true, checkpointPages: WAL_AUTOCHECKPOINT_PAGES },
];

const CONVERSATIONS = 50;

function run(s: Setting, rows: number, seconds: number): { userUs: number; sysUs: number; msgsPerSec: number } {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-knobs-'));
  const db = new Database(path.join(dir, 'k.db'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma(`wal_autocheckpoint = ${s.checkpointPages}`);
    migrate(db);
    const cols = 'conversation, seq, message_id, sender, sender_device, client_msg_id, body, meta, server_ts';
    const ins = db.prepare(
      s.positional
        ? `INSERT INTO messages (${cols}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`
        : `INSERT INTO messages (${cols}) VALUES (@conversation, @seq, @message_id, @sender, @sender_device, @client_msg_id, @body, @meta, @server_ts) ON CONFLICT DO NOTHING`,
    );
    const dedup = db.prepare('INSERT INTO dedup (conversation, sender, client_msg_id, seq) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING');
    const seqs = new Array<number>(CONVERSATIONS).fill(0);
    const body = 'x'.repeat(100);
    let n = 0;
    const commit = db.transaction((k: number) => {
      for (let i = 0; i < k; i++, n++) {
        const c = n % CONVERSATIONS;
        const seq = ++seqs[c];
        // The node's ids: 26-character message ids, 16-character client ids.
        const conversation = `knob-c${c}`;
        const sender = `knob-s${c}`;
        const messageId = `m${String(n).padStart(25, '0')}`;
        const clientMsgId = `L${String(n).padStart(15, '0')}`;
        if (s.positional) ins.run(conversation, seq, messageId, sender, 'd1', clientMsgId, body, '{}', Date.now());
        else ins.run({ conversation, seq, message_id: messageId, sender, sender_device: 'd1', client_msg_id: clientMsgId, body, meta: '{}', server_ts: Date.now() });
        dedup.run(conversation, sender, clientMsgId, seq);
      }
    });
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) commit.immediate(rows);
    const cpu = process.cpuUsage(cpu0);
    const wall = performance.now() - t0;
    return { userUs: cpu.user / n, sysUs: cpu.system / n, msgsPerSec: (n / wall) * 1000 };
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const r1 = (x: number): number => Math.round(x * 10) / 10;

const { values } = parseArgs({ options: { rows: { type: 'string', default: '8,23,64,256' }, seconds: { type: 'string', default: '2' }, rounds: { type: 'string', default: '3' } } });
const rowsList = values.rows.split(',').map(Number);
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
if (rowsList.some((r) => !(r >= 1)) || !(seconds > 0) || !(rounds >= 1)) throw new Error('--rows: positive integers, --seconds and --rounds positive');

const out: Array<Array<string | number>> = [];
for (const rows of rowsList) {
  const cells = new Map<string, Array<{ userUs: number; sysUs: number; msgsPerSec: number }>>();
  for (let round = 1; round <= rounds; round++) {
    for (const s of SETTINGS) {
      process.stdout.write(`\r${rows} rows per commit, round ${round}/${rounds}, ${s.name}...          `);
      const list = cells.get(s.name) ?? [];
      list.push(run(s, rows, seconds));
      cells.set(s.name, list);
    }
  }
  const base = median(cells.get('before')!.map((c) => c.userUs + c.sysUs));
  for (const s of SETTINGS) {
    const c = cells.get(s.name)!;
    const total = median(c.map((x) => x.userUs + x.sysUs));
    out.push([rows, s.name, r1(total), r1(median(c.map((x) => x.userUs))), r1(median(c.map((x) => x.sysUs))), Math.round(median(c.map((x) => x.msgsPerSec))), r1(total / base)]);
  }
}
process.stdout.write('\n');
console.log(table(['rows/commit', 'setting', 'CPU µs/msg', 'user', 'kernel', 'msg/s', 'x before'], out));
