import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { createOpRing, RingReader, RingWriter } from './op_ring.js';

const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);
const drainAll = (r: RingReader): number[][] => {
  const out: number[][] = [];
  r.drain((buf) => out.push([...new Uint8Array(buf)]));
  return out;
};

describe('op ring', () => {
  it('hands records over in order, each exactly as written', () => {
    const sab = createOpRing(1024);
    const w = new RingWriter(sab);
    const r = new RingReader(sab);
    assert.equal(w.write(Uint8Array.of(1, 2, 3)), true);
    assert.equal(w.write(Uint8Array.of(4)), true);
    assert.deepEqual(drainAll(r), [[1, 2, 3], [4]]);
    assert.deepEqual(drainAll(r), [], 'nothing twice');
  });

  it('wraps at the end of the region, with and without room for the wrap marker, many times over', () => {
    for (const size of [100, 101, 102, 103]) {
      const sab = createOpRing(size);
      const w = new RingWriter(sab);
      const r = new RingReader(sab);
      let next = 0;
      let expect = 0;
      for (let round = 0; round < 200; round++) {
        const len = 1 + (round % 37);
        if (w.write(bytes(len, next % 256))) next++;
        if (round % 3 === 2) for (const rec of drainAll(r)) assert.equal(rec[0], expect++ % 256, `size ${size} round ${round}`);
      }
      for (const rec of drainAll(r)) assert.equal(rec[0], expect++ % 256);
      assert.equal(expect, next, `size ${size}: every accepted record came out`);
    }
  });

  it('refuses a record that does not fit (the shard posts it instead) and takes it once the host has read', () => {
    const sab = createOpRing(64);
    const w = new RingWriter(sab);
    const r = new RingReader(sab);
    assert.equal(w.write(bytes(40, 1)), true);
    assert.equal(w.write(bytes(40, 2)), false, 'full');
    assert.equal(w.write(bytes(64, 3)), false, 'larger than the region');
    assert.deepEqual(drainAll(r).map((x) => x.length), [40]);
    assert.equal(w.write(bytes(10, 2)), true, 'room again once read');
    assert.equal(w.write(bytes(30, 3)), true, 'wrapping to the start');
    assert.deepEqual(drainAll(r).map((x) => [x.length, x[0]]), [[10, 2], [30, 3]]);
  });

  it('one doorbell until the host drains; armed means no doorbell is needed', () => {
    const sab = createOpRing(256);
    const w = new RingWriter(sab);
    const r = new RingReader(sab);
    assert.equal(w.hostArmed(), false);
    assert.equal(w.claimBell(), true);
    assert.equal(w.claimBell(), false, 'a doorbell is already on its way');
    r.drain(() => {});
    assert.equal(w.claimBell(), true, 'the drain took it');
    r.setArmed(true);
    assert.equal(w.hostArmed(), true);
    r.setArmed(false);
    assert.equal(w.hostArmed(), false);
  });

  it('across threads: a writer thread and this reader lose and reorder nothing', async () => {
    const sab = createOpRing(4096);
    const N = 20_000;
    // The real RingWriter in another thread (started through the tsx boot, as shards are).
    const worker = new Worker(new URL('../supervisor/ts_worker_boot.mjs', import.meta.url), { workerData: { sab, n: N, __entry: new URL('./fixtures/op_ring_writer.ts', import.meta.url).href } });
    const r = new RingReader(sab);
    let expect = 0;
    const exited = new Promise((res) => worker.once('exit', res));
    let done = false;
    void exited.then(() => (done = true));
    while (!done || expect < N) {
      r.drain((buf) => {
        assert.equal(new DataView(buf).getUint32(0, true), expect);
        assert.equal(buf.byteLength, 4 + (expect % 50));
        expect++;
      });
      await new Promise((res) => setImmediate(res));
      if (done && expect < N && r.drain(() => assert.fail('late')) === 0) break;
    }
    assert.equal(expect, N);
  });
});
