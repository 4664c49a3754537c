import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { AuthError, type AuthErrorCode } from './errors.js';
import { edKey, hsKey } from './fixtures.js';
import { signToken } from './sign.js';
import type { AuthConfig, KeySpec } from './types.js';
import { bearerFromHeader, createVerifier, type Verifier } from './verify.js';

const NOW = Date.UTC(2030, 0, 1);
const now = () => NOW;

function config(keys: KeySpec[], extra: Partial<AuthConfig> = {}): AuthConfig {
  return { clockToleranceSec: 0, ticketTtlMs: 30_000, keys, ...extra };
}

function mint(key: KeySpec, over: Partial<Parameters<typeof signToken>[0]> = {}): Promise<string> {
  return signToken({ user: 'alice', device: 'phone', ttlSec: 600, now: NOW, ...over }, key);
}

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

/** Asserts rejection with `code`, and that nothing of the token leaks into the error text. */
async function rejected(v: Verifier, token: string, code: AuthErrorCode, message?: RegExp): Promise<void> {
  await assert.rejects(v.verify(token), (err: unknown) => {
    assert.ok(err instanceof AuthError, `expected AuthError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    const text = `${err.message}\n${err.stack ?? ''}`;
    for (const part of [token, ...token.split('.')].filter((p) => p.length >= 8)) {
      assert.ok(!text.includes(part), `error text leaks token: ${err.message}`);
    }
    return true;
  });
}

describe('createVerifier', () => {
  it('accepts HS256 and returns the identity', async () => {
    const key = hsKey('k');
    const v = createVerifier(config([key]), { now });
    assert.deepEqual(await v.verify(await mint(key)), { user: 'alice', device: 'phone', exp: NOW / 1000 + 600 });
  });

  it('accepts EdDSA (Ed25519) with only the public key configured', async () => {
    const key = edKey('e');
    const v = createVerifier(config([{ ...key, privateKeyPem: undefined }]), { now });
    assert.equal((await v.verify(await mint(key, { user: 'bob@x.io', device: 'web:1' }))).user, 'bob@x.io');
  });

  it('accepts the "did" claim in place of "device"', async () => {
    const key = hsKey('k');
    const token = await new SignJWT({ did: 'tablet' })
      .setProtectedHeader({ alg: 'HS256', kid: 'k' })
      .setSubject('carol')
      .setExpirationTime(NOW / 1000 + 60)
      .sign(Buffer.from(key.secret, 'base64url'));
    assert.equal((await createVerifier(config([key]), { now }).verify(token)).device, 'tablet');
  });

  it('chooses among several keys by kid', async () => {
    const a = hsKey('a');
    const b = edKey('b');
    const c = hsKey('c');
    const v = createVerifier(config([a, b, c]), { now });
    for (const key of [a, b, c]) assert.equal((await v.verify(await mint(key))).user, 'alice');
    // Signed with a's secret but claiming kid c: c's secret does not verify it.
    const forged = await new SignJWT({ device: 'd' })
      .setProtectedHeader({ alg: 'HS256', kid: 'c' })
      .setSubject('alice')
      .setExpirationTime(NOW / 1000 + 60)
      .sign(Buffer.from(a.secret, 'base64url'));
    await rejected(v, forged, 'unauthenticated', /signature/);
  });

  it('uses a lone key for kid-less tokens, but not one of several', async () => {
    const key = hsKey('only');
    const token = await new SignJWT({ device: 'd' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setExpirationTime(NOW / 1000 + 60)
      .sign(Buffer.from(key.secret, 'base64url'));
    assert.equal((await createVerifier(config([key]), { now }).verify(token)).user, 'alice');
    await rejected(createVerifier(config([key, hsKey('other')]), { now }), token, 'unauthenticated', /no kid/);
  });

  it('rejects an unknown kid', async () => {
    const v = createVerifier(config([hsKey('a')]), { now });
    await rejected(v, await mint(hsKey('zzz')), 'unauthenticated', /kid matches no configured key/);
  });

  it('rejects a token signed with the wrong key', async () => {
    const v = createVerifier(config([hsKey('k')]), { now });
    await rejected(v, await mint(hsKey('k')), 'unauthenticated', /signature is invalid/);
    const ev = createVerifier(config([edKey('e')]), { now });
    await rejected(ev, await mint(edKey('e')), 'unauthenticated', /signature is invalid/);
  });

  it('rejects alg none', async () => {
    const v = createVerifier(config([hsKey('k')]), { now });
    const token = `${b64({ alg: 'none', kid: 'k' })}.${b64({ sub: 'alice', device: 'd', exp: NOW / 1000 + 60 })}.`;
    await rejected(v, token, 'unauthenticated', /alg not allowed/);
  });

  it('rejects RS256 even when the kid names an RSA-looking key', async () => {
    const v = createVerifier(config([hsKey('k')]), { now });
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const token = await new SignJWT({ device: 'd' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k' })
      .setSubject('alice')
      .setExpirationTime(NOW / 1000 + 60)
      .sign(privateKey);
    await rejected(v, token, 'unauthenticated', /alg not allowed/);
  });

  it('rejects HS256 keyed with an EdDSA public key (alg confusion)', async () => {
    const ed = edKey('e', false);
    const v = createVerifier(config([ed]), { now });
    const token = await new SignJWT({ device: 'd' })
      .setProtectedHeader({ alg: 'HS256', kid: 'e' })
      .setSubject('alice')
      .setExpirationTime(NOW / 1000 + 60)
      .sign(Buffer.from(ed.publicKeyPem));
    await rejected(v, token, 'unauthenticated', /alg does not match/);
  });

  it('rejects a missing device, bad sub and bad device', async () => {
    const key = hsKey('k');
    const v = createVerifier(config([key]), { now });
    const noDevice = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', kid: 'k' })
      .setSubject('alice')
      .setExpirationTime(NOW / 1000 + 60)
      .sign(Buffer.from(key.secret, 'base64url'));
    await rejected(v, noDevice, 'unauthenticated', /"device" \(or "did"\) is required/);
    const bad = (sub: string, device: unknown) =>
      new SignJWT({ device })
        .setProtectedHeader({ alg: 'HS256', kid: 'k' })
        .setSubject(sub)
        .setExpirationTime(NOW / 1000 + 60)
        .sign(Buffer.from(key.secret, 'base64url'));
    await rejected(v, await bad('al ice', 'd'), 'unauthenticated', /"sub"/);
    await rejected(v, await bad('x'.repeat(129), 'd'), 'unauthenticated', /"sub"/);
    await rejected(v, await bad('alice', 'ph/one'), 'unauthenticated', /"device" must be/);
    await rejected(v, await bad('alice', 42), 'unauthenticated', /"device" must be/);
    await rejected(v, await bad('alice', ''), 'unauthenticated', /"device" must be/);
  });

  it('rejects a token without exp', async () => {
    const key = hsKey('k');
    const token = await new SignJWT({ device: 'd' })
      .setProtectedHeader({ alg: 'HS256', kid: 'k' })
      .setSubject('alice')
      .sign(Buffer.from(key.secret, 'base64url'));
    await rejected(createVerifier(config([key]), { now }), token, 'unauthenticated', /"exp"/);
  });

  it('reports expiry as token_expired, honouring clock tolerance', async () => {
    const key = hsKey('k');
    const token = await mint(key, { ttlSec: -10 });
    await rejected(createVerifier(config([key]), { now }), token, 'token_expired', /expired/);
    assert.equal((await createVerifier(config([key], { clockToleranceSec: 30 }), { now }).verify(token)).user, 'alice');
  });

  it('says unauthenticated, not expired, for an expired token with a bad signature', async () => {
    const v = createVerifier(config([hsKey('k')]), { now });
    await rejected(v, await mint(hsKey('k'), { ttlSec: -10 }), 'unauthenticated');
  });

  it('checks issuer and audience when configured', async () => {
    const key = hsKey('k');
    const v = createVerifier(config([key], { issuer: 'https://id.example', audience: 'switchboard' }), { now });
    const good = await mint(key, { issuer: 'https://id.example', audience: 'switchboard' });
    assert.equal((await v.verify(good)).user, 'alice');
    await rejected(v, await mint(key, { issuer: 'https://evil.example', audience: 'switchboard' }), 'unauthenticated', /"iss"/);
    await rejected(v, await mint(key, { issuer: 'https://id.example', audience: 'other' }), 'unauthenticated', /"aud"/);
    await rejected(v, await mint(key), 'unauthenticated', /"iss"/);
  });

  it('rejects garbage, empty and oversized input without quoting it', async () => {
    const v = createVerifier(config([hsKey('k')]), { now });
    await rejected(v, '', 'unauthenticated', /missing/);
    await rejected(v, 'not-a-jwt-at-all-but-long-enough', 'unauthenticated');
    await rejected(v, 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIi.sig-sig-sig-sig', 'unauthenticated');
    await rejected(v, `${b64({ alg: 'HS256', kid: 'k' })}.${'A'.repeat(9000)}.x`, 'unauthenticated', /longer than 8192/);
  });
});

describe('bearerFromHeader', () => {
  it('extracts the token with any case of scheme', () => {
    assert.equal(bearerFromHeader('Bearer abc.def.ghi'), 'abc.def.ghi');
    assert.equal(bearerFromHeader('bearer abc.def.ghi'), 'abc.def.ghi');
    assert.equal(bearerFromHeader('BEARER   abc.def-_~+/=='), 'abc.def-_~+/==');
  });

  it('returns null for anything else', () => {
    for (const v of [undefined, null, '', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'Bearer a b', 'Bearerabc', 'Token abc']) {
      assert.equal(bearerFromHeader(v), null, String(v));
    }
  });
});
