import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { renderConfig, startHaproxy } from './haproxy.js';

test('renders one checked server line per backend', () => {
  const cfg = renderConfig('bind {{BIND}}\n{{BACKENDS}}\ninter {{CHECK_MS}}', { bind: '127.0.0.1:1', backends: [{ name: 'n1', host: '127.0.0.1', port: 2 }, { name: 'n2', host: '127.0.0.1', port: 3 }], checkMs: 500, maxconn: 10 });
  assert.equal(cfg, 'bind 127.0.0.1:1\n    server n1 127.0.0.1:2 check\n    server n2 127.0.0.1:3 check\ninter 500');
});

test('balances over healthy backends and skips one whose /readyz says 503', async () => {
  const ready = [true, true];
  const servers = await Promise.all([0, 1].map((i) => new Promise<http.Server>((resolve) => {
    const s = http.createServer((req, res) => {
      if (req.url === '/readyz') res.writeHead(ready[i] ? 200 : 503).end();
      else res.writeHead(200).end(`node-${i}`);
    });
    s.listen(0, '127.0.0.1', () => resolve(s));
  })));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sb-haproxy-'));
  let hp: Awaited<ReturnType<typeof startHaproxy>> | null = null;
  try {
    hp = await startHaproxy({ dir, checkMs: 100, backends: servers.map((s, i) => ({ name: `node-${i}`, host: '127.0.0.1', port: (s.address() as AddressInfo).port })) });
    const url = hp.url;
    const hit = async () => (await fetch(`${url}/x`)).text();
    await new Promise((r) => setTimeout(r, 400));
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) seen.add(await hit());
    assert.deepEqual([...seen].sort(), ['node-0', 'node-1']);
    ready[0] = false; // node-0 drains
    await new Promise((r) => setTimeout(r, 600));
    for (let i = 0; i < 10; i++) assert.equal(await hit(), 'node-1');
  } finally {
    await hp?.stop();
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
