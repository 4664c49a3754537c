import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { directConversationId, ID_PATTERN, newMessageId } from './ids.js';

const idChar = fc.constantFrom(...'abcXYZ019._:@-'.split(''));
const userId = fc.string({ unit: idChar, minLength: 1, maxLength: 12 });
const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('directConversationId', () => {
  it('is the same for both orders of the pair', () => {
    fc.assert(fc.property(userId, userId, (a, b) => directConversationId(a, b) === directConversationId(b, a)));
  });

  it('differs for different pairs', () => {
    fc.assert(
      fc.property(userId, userId, userId, userId, (a, b, c, d) => {
        const same = (a === c && b === d) || (a === d && b === c);
        fc.pre(!same);
        assert.notEqual(directConversationId(a, b), directConversationId(c, d));
      }),
    );
  });

  it('does not collide when a separator-like character moves between the two ids', () => {
    for (const sep of [':', '.', '@', '-', '_']) {
      assert.notEqual(directConversationId(`a${sep}b`, 'c'), directConversationId('a', `b${sep}c`));
      assert.notEqual(directConversationId(`a${sep}`, 'b'), directConversationId('a', `${sep}b`));
    }
    assert.notEqual(directConversationId('ab', 'c'), directConversationId('a', 'bc'));
  });

  it('is itself a valid id', () => {
    fc.assert(fc.property(userId, userId, (a, b) => ID_PATTERN.test(directConversationId(a, b))));
  });
});

describe('newMessageId', () => {
  it('is a UUIDv7 carrying the given millisecond timestamp', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 48 - 1 }), (t) => {
        const id = newMessageId(t);
        assert.match(id, UUIDV7);
        assert.equal(parseInt(id.replace(/-/g, '').slice(0, 12), 16), t);
      }),
    );
  });

  it('sorts by time as a plain string', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 48 - 2 }), fc.integer({ min: 1, max: 10_000_000 }), (t, dt) => {
        const later = Math.min(2 ** 48 - 1, t + dt);
        assert.ok(newMessageId(t) < newMessageId(later));
      }),
    );
  });

  it('is unique among ids of the same millisecond', () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => newMessageId(1_700_000_000_000)));
    assert.equal(ids.size, 10_000);
  });

  it('defaults to the current time', () => {
    const before = Date.now();
    const id = newMessageId();
    const after = Date.now();
    const t = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    assert.ok(t >= before && t <= after);
  });
});
