import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { loaded, step, type SeqEffect, type SeqEvent, type SeqState } from './sequencer.js';

const ROOM = 1_000;

function run(s: SeqState, events: SeqEvent[]): { state: SeqState; effects: SeqEffect[] } {
  const effects: SeqEffect[] = [];
  for (const e of events) {
    const r = step(s, e);
    s = r.state;
    effects.push(...r.effects);
  }
  return { state: s, effects };
}

describe('sequencer', () => {
  it('hands out consecutive seqs after the stored last seq, each write carrying the load epoch', () => {
    const { effects } = run(loaded(7, 41), [
      { t: 'assign', epoch: 7, room: ROOM },
      { t: 'assign', epoch: 7, room: ROOM },
      { t: 'assign', epoch: 7, room: ROOM, count: 1 },
    ]);
    assert.deepEqual(effects, [
      { t: 'write', first: 42, last: 42, epoch: 7 },
      { t: 'write', first: 43, last: 43, epoch: 7 },
      { t: 'write', first: 44, last: 44, epoch: 7 },
    ]);
  });

  it('refuses to assign when the node does not own the shard now', () => {
    const { state, effects } = run(loaded(7, 3), [{ t: 'assign', epoch: null, room: ROOM }]);
    assert.deepEqual(effects, [{ t: 'refuse', code: 'unavailable', why: 'not_owner' }]);
    assert.equal(state.assigned, 3);
  });

  it('a state loaded under an old epoch never assigns under a newer one, even though the node owns the shard again', () => {
    const { state, effects } = run(loaded(7, 3), [
      { t: 'assign', epoch: 9, room: ROOM },
      // and it stays retired when the epoch is asked again
      { t: 'assign', epoch: 7, room: ROOM },
    ]);
    assert.deepEqual(effects, [
      { t: 'refuse', code: 'unavailable', why: 'stale_state' },
      { t: 'drop' },
      { t: 'refuse', code: 'unavailable', why: 'stale_state' },
      { t: 'drop' },
    ]);
    assert.equal(state.assigned, 3);
    assert.equal(state.retired, 'epoch_ended');
  });

  it('an epoch change retires the state; the same epoch does not', () => {
    assert.deepEqual(step(loaded(7, 3), { t: 'epoch', epoch: 7 }).effects, []);
    const r = step(loaded(7, 3), { t: 'epoch', epoch: null });
    assert.equal(r.state.retired, 'epoch_ended');
    assert.deepEqual(r.effects, [{ t: 'drop' }]);
  });

  it('a failed write retires the state: no seq after the unstored one', () => {
    const { state, effects } = run(loaded(1, 0), [
      { t: 'assign', epoch: 1, room: ROOM },
      { t: 'assign', epoch: 1, room: ROOM },
      { t: 'write_failed' },
      { t: 'assign', epoch: 1, room: ROOM },
    ]);
    assert.deepEqual(effects.slice(2), [{ t: 'drop' }, { t: 'refuse', code: 'unavailable', why: 'stale_state' }, { t: 'drop' }]);
    assert.equal(state.retired, 'write_failed');
  });

  it('refuses a full queue before taking a seq (no gap, no reuse)', () => {
    const { state, effects } = run(loaded(1, 5), [
      { t: 'assign', epoch: 1, room: 0 },
      { t: 'assign', epoch: 1, room: 2, count: 3 },
      { t: 'assign', epoch: 1, room: 1 },
    ]);
    assert.deepEqual(effects, [
      { t: 'refuse', code: 'overloaded', why: 'queue_full' },
      { t: 'refuse', code: 'overloaded', why: 'queue_full' },
      { t: 'write', first: 6, last: 6, epoch: 1 },
    ]);
    assert.equal(state.assigned, 6);
  });

  it('durable moves committed forward only', () => {
    const { state, effects } = run(loaded(1, 0), [
      { t: 'assign', epoch: 1, room: ROOM },
      { t: 'assign', epoch: 1, room: ROOM },
      { t: 'durable', seq: 1 },
      { t: 'durable', seq: 2 },
      { t: 'durable', seq: 2 },
    ]);
    assert.deepEqual(effects.slice(2), [{ t: 'publish', seq: 1 }, { t: 'publish', seq: 2 }]);
    assert.equal(state.committed, 2);
  });

  it('property: across any events and epochs, no two writes carry the same seq under the same state, and every write carries the state epoch while it is current', () => {
    const ev = fc.oneof(
      fc.record({ t: fc.constant('assign' as const), epoch: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }), room: fc.integer({ min: 0, max: 3 }), count: fc.integer({ min: 1, max: 2 }) }),
      fc.record({ t: fc.constant('write_failed' as const) }),
      fc.record({ t: fc.constant('epoch' as const), epoch: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.nat(100), fc.array(ev, { maxLength: 40 }), (epoch, last, events) => {
        let s = loaded(epoch, last);
        const seqs = new Set<number>();
        for (const e of events) {
          const before = s;
          const r = step(s, e);
          s = r.state;
          for (const f of r.effects) {
            if (f.t !== 'write') continue;
            // A write only from a live state, only under its own epoch, which is the current one.
            assert.equal(before.retired, null);
            assert.equal(f.epoch, epoch);
            assert.equal(e.t === 'assign' ? e.epoch : undefined, epoch);
            for (let q = f.first; q <= f.last; q++) {
              assert.ok(q > last && !seqs.has(q), `seq ${q} handed out twice or at/below the stored last seq`);
              seqs.add(q);
            }
          }
          // Once retired, always retired.
          if (before.retired !== null) assert.notEqual(s.retired, null);
        }
      }),
      { numRuns: 2_000 },
    );
  });
});
