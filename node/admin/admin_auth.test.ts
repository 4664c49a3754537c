/** API-key checks (admin_auth.ts): which headers pass, and how an audit line names a key. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apiKeyMatches, bearerKey, keyId } from './admin_auth.js';

const K1 = 'k1-aaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const K2 = 'k2-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';

describe('apiKeyMatches', () => {
  it('accepts each configured key as a bearer value, and nothing else', () => {
    for (const k of [K1, K2]) {
      assert.equal(apiKeyMatches(`Bearer ${k}`, [K1, K2]), true);
      assert.equal(apiKeyMatches(`bearer   ${k}  `, [K1, K2]), true);
    }
    for (const h of [K1, `Bearer ${K1.slice(0, -1)}`, `Bearer ${K1}x`, `Bearer ${K2.slice(0, K1.length)}`, 'Bearer ', '', `Basic ${K1}`]) {
      assert.equal(apiKeyMatches(h, [K1, K2]), false, h);
    }
    assert.equal(apiKeyMatches(`Bearer ${K1}`, []), false, 'no keys configured: nothing passes');
    assert.equal(apiKeyMatches(undefined, [K1]), false);
  });
});

describe('keyId', () => {
  it('names a key by 8 hex digits of its SHA-256, never by the key', () => {
    const id = keyId(`Bearer ${K1}`)!;
    assert.match(id, /^sha256:[0-9a-f]{8}$/);
    assert.ok(!id.includes(K1.slice(0, 8)));
    assert.equal(keyId(`Bearer ${K1}`), id, 'stable');
    assert.notEqual(keyId(`Bearer ${K2}`), id);
    assert.equal(keyId('nothing'), null);
    assert.equal(bearerKey(`Bearer ${K2}`), K2);
  });
});
