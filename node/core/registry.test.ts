import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConnectionRegistry, type ConnRef } from './registry.js';

const ref = (user: string, shard: number, conn: number, device = 'd'): ConnRef => ({ user, shard, conn, device });
const sorted = (refs: Iterable<ConnRef>) => [...refs].sort((a, b) => a.shard - b.shard || a.conn - b.conn);

describe('ConnectionRegistry', () => {
  it('tracks the connections of each user', () => {
    const r = new ConnectionRegistry();
    r.add(ref('alice', 0, 1, 'phone'));
    r.add(ref('alice', 1, 1, 'laptop'));
    r.add(ref('bob', 0, 2));
    assert.equal(r.size, 3);
    assert.deepEqual(sorted(r.connectionsOf('alice')).map((c) => c.device), ['phone', 'laptop']);
    assert.equal(r.isOnline('bob'), true);
    assert.deepEqual([...r.connectionsOf('carol')], []);
    assert.equal(r.isOnline('carol'), false);
  });

  it('re-adding a connection replaces it without counting it twice', () => {
    const r = new ConnectionRegistry();
    r.add(ref('alice', 0, 1, 'old'));
    r.add(ref('alice', 0, 1, 'new'));
    assert.equal(r.size, 1);
    assert.deepEqual([...r.connectionsOf('alice')].map((c) => c.device), ['new']);
  });

  it('removing an unknown connection changes nothing', () => {
    const r = new ConnectionRegistry();
    r.add(ref('alice', 0, 1));
    r.remove('alice', 0, 2);
    r.remove('bob', 0, 1);
    assert.equal(r.size, 1);
    r.remove('alice', 0, 1);
    assert.equal(r.size, 0);
    assert.equal(r.isOnline('alice'), false);
  });

  it('removeShard drops exactly that shard and returns how many', () => {
    const r = new ConnectionRegistry();
    r.add(ref('alice', 0, 1));
    r.add(ref('alice', 1, 2));
    r.add(ref('bob', 1, 3));
    assert.equal(r.removeShard(1), 2);
    assert.equal(r.size, 1);
    assert.equal(r.isOnline('bob'), false);
    assert.deepEqual(sorted(r.connectionsOf('alice')), [ref('alice', 0, 1)]);
    assert.equal(r.removeShard(7), 0);
  });

  it('agrees with a simple model under any sequence of operations', () => {
    const user = fc.constantFrom('alice', 'bob', 'carol');
    const shard = fc.integer({ min: 0, max: 2 });
    const conn = fc.integer({ min: 0, max: 4 });
    const op = fc.oneof(
      fc.record({ t: fc.constant('add' as const), user, shard, conn, device: fc.constantFrom('p', 'l') }),
      fc.record({ t: fc.constant('remove' as const), user, shard, conn }),
      fc.record({ t: fc.constant('removeShard' as const), shard }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const r = new ConnectionRegistry();
        // Model: a list of refs, unique per (user, shard, conn).
        let model: ConnRef[] = [];
        for (const o of ops) {
          if (o.t === 'add') {
            model = model.filter((m) => !(m.user === o.user && m.shard === o.shard && m.conn === o.conn));
            model.push(ref(o.user, o.shard, o.conn, o.device));
            r.add(ref(o.user, o.shard, o.conn, o.device));
          } else if (o.t === 'remove') {
            model = model.filter((m) => !(m.user === o.user && m.shard === o.shard && m.conn === o.conn));
            r.remove(o.user, o.shard, o.conn);
          } else {
            const before = model.length;
            model = model.filter((m) => m.shard !== o.shard);
            assert.equal(r.removeShard(o.shard), before - model.length);
          }
          assert.equal(r.size, model.length);
          for (const u of ['alice', 'bob', 'carol']) {
            const mine = model.filter((m) => m.user === u);
            assert.deepEqual(sorted(r.connectionsOf(u)), sorted(mine));
            assert.equal(r.isOnline(u), mine.length > 0);
          }
        }
      }),
    );
  });

  it('a caller iterating connectionsOf sees the set as it was while connections come and go', () => {
    const r = new ConnectionRegistry();
    r.add(ref('alice', 0, 1));
    r.add(ref('alice', 0, 2));
    const seen: number[] = [];
    for (const c of r.connectionsOf('alice')) {
      seen.push(c.conn);
      r.remove('alice', 0, 2);
      r.add(ref('alice', 1, 3));
    }
    assert.deepEqual(seen, [1, 2]);
    assert.deepEqual(sorted(r.connectionsOf('alice')).map((c) => c.conn), [1, 3]);
    assert.equal(r.size, 2);
  });
});
