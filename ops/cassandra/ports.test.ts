import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { assertPortsFree, readSavedPorts, resolvePorts, savePorts } from './ports.js';

const host = '127.0.0.1';

test('defaults are the standard pair', async () => {
  assert.deepEqual(await resolvePorts(host, {}, null), { cqlPort: 9042, storagePort: 7000 });
});

test('saved ports are reused unless overridden', async () => {
  const saved = { cqlPort: 19042, storagePort: 17000 };
  assert.deepEqual(await resolvePorts(host, {}, saved), saved);
  assert.deepEqual(await resolvePorts(host, { storagePort: 17001 }, saved), { cqlPort: 19042, storagePort: 17001 });
  // A new CQL port does not drag the old storage port along (it may be another node's).
  const moved = await resolvePorts(host, { cqlPort: 29042 }, saved);
  assert.equal(moved.cqlPort, 29042);
  assert.notEqual(moved.storagePort, 17000);
});

test('port 0 picks distinct free ports', async () => {
  const p = await resolvePorts(host, { cqlPort: 0 }, null);
  assert.ok(p.cqlPort > 0 && p.storagePort > 0 && p.cqlPort !== p.storagePort);
  await assertPortsFree(host, p);
});

test('a busy port is reported by name', async () => {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen({ host, port: 0 }, () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  try {
    await assert.rejects(assertPortsFree(host, { cqlPort: port, storagePort: 0 }), /CQL port 127\.0\.0\.1:\d+ is in use/);
  } finally {
    srv.close();
  }
});

test('node.json round-trips and a corrupt one reads as absent', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sb-ports-'));
  try {
    const f = path.join(dir, 'node.json');
    assert.equal(readSavedPorts(f), null);
    savePorts(f, { cqlPort: 1, storagePort: 2 });
    assert.deepEqual(readSavedPorts(f), { cqlPort: 1, storagePort: 2 });
    savePorts(f, { cqlPort: 'x' } as never);
    assert.equal(readSavedPorts(f), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
