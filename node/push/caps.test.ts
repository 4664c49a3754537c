/** Caps: concurrency, rate and pauses per key, a permit needing every key. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Caps } from './caps.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('push caps', () => {
  it('holds calls past the concurrency of any of their keys until one is released', async () => {
    const caps = new Caps();
    const provider = { key: 'provider:apns', limit: { concurrency: 2, ratePerSec: 1_000 } };
    const endpoint = (e: string) => ({ key: `endpoint:${e}`, limit: { concurrency: 1, ratePerSec: 1_000 } });
    const got: string[] = [];
    const take = (name: string, ep: string) => caps.acquire([provider, endpoint(ep)]).then((rel) => (got.push(name), rel));
    const a = take('a', 'x');
    const b = take('b', 'x'); // endpoint x is busy
    const c = take('c', 'y');
    const d = take('d', 'z'); // provider is full (a, c)
    await tick();
    assert.deepEqual(got, ['a', 'c']);
    (await a)();
    await tick();
    assert.deepEqual(got, ['a', 'c', 'b']);
    (await c)();
    await tick();
    assert.deepEqual(got, ['a', 'c', 'b', 'd']);
    (await b)();
    (await d)();
    caps.close();
  });

  it('spaces calls by the rate once the burst is spent, and honours a pause', async () => {
    let now = 1_000_000;
    const caps = new Caps(() => now);
    const k = [{ key: 'endpoint:e', limit: { concurrency: 100, ratePerSec: 2 } }];
    (await caps.acquire(k))();
    (await caps.acquire(k))();
    let third = false;
    void caps.acquire(k).then((r) => ((third = true), r()));
    await tick();
    assert.equal(third, false, 'burst of 2 spent');
    now += 500;
    await new Promise((r) => setTimeout(r, 520));
    assert.equal(third, true, 'one token after 500 ms at 2/s');
    caps.pause('endpoint:e', now + 10_000);
    now += 5_000; // tokens refill, but the pause holds
    let fourth = false;
    void caps.acquire(k).then((r) => ((fourth = true), r()));
    await tick();
    assert.equal(caps.waiting, 1);
    assert.equal(fourth, false);
    now += 5_000;
    await new Promise((r) => setTimeout(r, 5_050));
    assert.equal(fourth, true);
    caps.close();
  });
});
