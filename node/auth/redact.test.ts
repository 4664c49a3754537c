import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hsKey } from './fixtures.js';
import { redact } from './redact.js';
import { signToken } from './sign.js';

describe('redact', () => {
  it('replaces a real JWT anywhere in a line', async () => {
    const jwt = await signToken({ user: 'alice', device: 'phone', ttlSec: 60 }, hsKey());
    assert.equal(redact(`auth failed for ${jwt}, closing`), 'auth failed for [redacted], closing');
    assert.equal(redact(`{"token":"${jwt}"}`), '{"token":"[redacted]"}');
  });

  it('replaces unsigned and JWE-shaped tokens', () => {
    assert.equal(redact('x eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0. y'), 'x [redacted] y');
    assert.equal(redact('eyJhbGciOiJkaXIifQ.a.b.c.d'), '[redacted]');
  });

  it('replaces ticket= and token-like query values, keeping the rest of the URL', () => {
    assert.equal(redact('GET /ws?ticket=abc_DEF-123&v=1 101'), 'GET /ws?ticket=[redacted]&v=1 101');
    assert.equal(redact('/ws?v=1&ticket=abc#frag'), '/ws?v=1&ticket=[redacted]#frag');
    assert.equal(redact('/ws?TICKET=abc'), '/ws?TICKET=[redacted]');
    assert.equal(redact('/cb?access_token=s3cr3t&x=1'), '/cb?access_token=[redacted]&x=1');
    assert.equal(redact('ticket=abc at start'), 'ticket=[redacted] at start');
  });

  it('replaces bearer credentials', () => {
    assert.equal(redact('authorization: Bearer opaque-token_123'), 'authorization: Bearer [redacted]');
  });

  it('leaves ordinary text alone', () => {
    for (const s of ['GET /ws?v=1&encoding=proto', 'myticket=5 and subticket=2', 'eyJ alone', 'version 1.2.3', 'user alice.smith@x.io']) {
      assert.equal(redact(s), s);
    }
  });
});
