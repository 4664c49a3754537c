import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { applyCassandraDriverFix, patchControlConnection } from './cassandra_driver_fix.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The driver's ControlConnection refresh reduced to its shape: reset host and
 * connection, connect (await), set them, then set the health listeners outside any
 * try (a null host throws there, as `host.once(...)` does in the driver).
 */
class FakeControlConnection {
  host: { name: string } | null = null;
  connection: object | null = null;
  readonly listenersOn: string[] = [];
  readonly logs: string[] = [];
  readonly connectMs: number[] = [];
  failNext = false;
  calls = 0;
  _isShuttingDown = false;
  async _refresh(_hostIterator?: unknown): Promise<void> {
    const n = ++this.calls;
    this.host = null;
    this.connection = null;
    await sleep(this.connectMs[n - 1] ?? 5);
    if (this.failNext) {
      this.failNext = false;
      throw new TypeError('boom inside the driver');
    }
    this.host = { name: `h${n}` };
    this.connection = {};
    await sleep(2);
    this._setHealthListeners(this.host, this.connection);
  }
  _setHealthListeners(host: unknown, _connection: unknown): void {
    if (host === null) throw new TypeError("Cannot read properties of null (reading 'once')");
    this.listenersOn.push((host as { name: string }).name);
  }
  log(level: string, message: string): void {
    this.logs.push(`${level}: ${message}`);
  }
}

/** Two overlapping refreshes: the second starts just after the first got its host. */
async function overlap(cc: FakeControlConnection): Promise<[PromiseSettledResult<void>, PromiseSettledResult<void>]> {
  cc.connectMs.push(5, 30);
  const a = cc._refresh();
  await sleep(6); // a has its host and is about to set the listeners
  const b = cc._refresh(); // resets host and connection under a
  return (await Promise.allSettled([a, b])) as [PromiseSettledResult<void>, PromiseSettledResult<void>];
}

describe('cassandra-driver ControlConnection fix (NODEJS-681)', () => {
  it('reproduces the bug on the unpatched shape: an overlapping refresh rejects with the TypeError that killed nodes', async () => {
    const [a, b] = await overlap(new FakeControlConnection());
    assert.equal(a.status, 'rejected');
    assert.match(String((a as PromiseRejectedResult).reason), /reading 'once'/);
    assert.equal(b.status, 'fulfilled');
  });

  it('patched: overlapping refreshes both resolve, and the newer one sets the listeners', async () => {
    class Patched extends FakeControlConnection {}
    patchControlConnection(Patched.prototype);
    const cc = new Patched();
    const [a, b] = await overlap(cc);
    assert.deepEqual([a.status, b.status], ['fulfilled', 'fulfilled']);
    assert.deepEqual(cc.listenersOn, ['h2']);
    assert.ok(cc.logs.some((l) => /overlapped/.test(l)), cc.logs.join('\n'));
  });

  it('patched: a refresh that fails never rejects; it is logged and retried until it connects', async () => {
    class Patched extends FakeControlConnection {}
    patchControlConnection(Patched.prototype);
    const cc = new Patched();
    cc.failNext = true;
    await cc._refresh(); // resolves
    assert.ok(cc.logs.some((l) => /refresh failed; retrying/.test(l)));
    for (let i = 0; i < 100 && cc.listenersOn.length === 0; i++) await sleep(50);
    assert.deepEqual(cc.listenersOn, ['h2'], 'the retry connected and set the listeners');
  });

  it('is applied to the installed driver, once', () => {
    applyCassandraDriverFix();
    applyCassandraDriverFix();
    const require = createRequire(import.meta.url);
    const proto = (require('cassandra-driver/lib/control-connection.js') as { prototype: Record<symbol, unknown> }).prototype;
    assert.equal(proto[Symbol.for('switchboard.cassandraControlConnectionFix')], true);
  });
});
