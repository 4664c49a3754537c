/**
 * shards.count 0 means one shard per CPU the process may use, not per CPU the machine
 * has: a node pinned to one core (taskset, a container's cpuset) starts one shard and
 * one task thread, not as many threads as the host has cores fighting for that core.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(new URL('../..', import.meta.url).pathname);

describe('CPU affinity', () => {
  it('a node pinned to one CPU (taskset -c 0) starts one socket shard by default', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'sb-affinity-'));
    const proc = spawn('taskset', ['-c', '0', process.execPath, '--import', 'tsx', 'node/main.ts', '--port', '0', '--data-dir', dataDir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      let err = '';
      proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const ready = await new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no ready line in 30 s\n${out}\n${err}`)), 30_000);
        proc.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const line = out.split('\n').find((l) => l.includes(' ready: '));
          if (line) {
            clearTimeout(t);
            resolve(line);
          }
        });
        proc.once('exit', (code) => reject(new Error(`exited with ${code} before ready\n${out}\n${err}`)));
      });
      assert.match(ready, /\(1 shard;/, ready);
    } finally {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
