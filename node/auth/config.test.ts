import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { AUTH_LIMITS, validateAuthConfig } from './config.js';
import { ConfigError, defaultConfig, merge, validateConfig } from '../config.js';
import { AuthConfigError } from './errors.js';
import { edKey, hsKey } from './fixtures.js';
import { decodeSecret } from './keys.js';

function rejects(raw: unknown, path: string, problem: RegExp): void {
  assert.throws(
    () => validateAuthConfig(raw),
    (err: unknown) => {
      assert.ok(err instanceof AuthConfigError, `expected AuthConfigError, got ${String(err)}`);
      assert.equal(err.path, path);
      assert.match(err.message, problem);
      assert.ok(err.message.startsWith(`${path}: `), err.message);
      return true;
    },
  );
}

describe('one source for the auth ranges', () => {
  // The node's loader (node/config.ts) and this validator used to disagree (0-3600 vs
  // 0-600 s, 1 h vs 10 min): a value one accepted the other refused at start.
  for (const [key, lim] of Object.entries(AUTH_LIMITS)) {
    it(`auth.${key}: same default, same bounds in both validators`, () => {
      assert.equal((defaultConfig().auth as Record<string, unknown>)[key], lim.dflt);
      assert.equal((validateAuthConfig({ keys: [hsKey('k1')] }) as unknown as Record<string, unknown>)[key], lim.dflt);
      for (const v of [lim.min, lim.max]) {
        assert.doesNotThrow(() => validateAuthConfig({ keys: [hsKey('k1')], [key]: v }));
        assert.doesNotThrow(() => validateConfig(merge(defaultConfig(), { auth: { [key]: v } })));
      }
      for (const v of [lim.min - 1, lim.max + 1]) {
        assert.throws(() => validateAuthConfig({ keys: [hsKey('k1')], [key]: v }), AuthConfigError);
        assert.throws(() => validateConfig(merge(defaultConfig(), { auth: { [key]: v } })), (e: unknown) => e instanceof ConfigError && e.message.startsWith(`auth.${key}`));
      }
    });
  }
});

describe('validateAuthConfig', () => {
  it('fills defaults and keeps plain data', () => {
    const key = hsKey('k1');
    const cfg = validateAuthConfig({ keys: [key] });
    assert.deepEqual(cfg, { clockToleranceSec: 5, keys: [key], ticketTtlMs: 30_000 });
    assert.deepEqual(structuredClone(cfg), cfg);
  });

  it('keeps issuer, audience and explicit values', () => {
    const ed = edKey('e1', false);
    const cfg = validateAuthConfig({ issuer: 'iss', audience: 'aud', clockToleranceSec: 0, ticketTtlMs: 5000, keys: [ed] });
    assert.deepEqual(cfg, { issuer: 'iss', audience: 'aud', clockToleranceSec: 0, ticketTtlMs: 5000, keys: [ed] });
  });

  it('names the short secret by index', () => {
    rejects({ keys: [hsKey('a'), { kid: 'b', alg: 'HS256', secret: 'too-short' }] }, 'auth.keys[1].secret', /must be at least 32 bytes \(got 9\)/);
  });

  it('uses the caller-given path prefix', () => {
    assert.throws(() => validateAuthConfig({ keys: [] }, 'nodes[2].auth'), /^AuthConfigError: nodes\[2\]\.auth\.keys: must be a non-empty array/);
  });

  it('rejects each bad field by name', () => {
    rejects(null, 'auth', /must be an object/);
    rejects({}, 'auth.keys', /non-empty array/);
    rejects({ keys: [hsKey()], clockTolerence: 5 }, 'auth.clockTolerence', /unknown key/);
    rejects({ keys: [hsKey()], clockToleranceSec: -1 }, 'auth.clockToleranceSec', /integer from 0 to 600 \(got -1\)/);
    rejects({ keys: [hsKey()], ticketTtlMs: 1.5 }, 'auth.ticketTtlMs', /integer/);
    rejects({ keys: [hsKey()], issuer: '' }, 'auth.issuer', /non-empty string/);
    rejects({ keys: [hsKey()], audience: 7 }, 'auth.audience', /non-empty string/);
    rejects({ keys: ['x'] }, 'auth.keys[0]', /must be an object/);
    rejects({ keys: [{ ...hsKey(), kid: '' }] }, 'auth.keys[0].kid', /1\.\.64 characters/);
    rejects({ keys: [{ ...hsKey(), alg: 'RS256' }] }, 'auth.keys[0].alg', /"HS256" or "EdDSA" \(got "RS256"\)/);
    rejects({ keys: [{ ...hsKey(), alg: 'none' }] }, 'auth.keys[0].alg', /got "none"/);
    rejects({ keys: [{ kid: 'a', alg: 'HS256' }] }, 'auth.keys[0].secret', /must be a string/);
    rejects({ keys: [{ ...hsKey(), publicKeyPem: 'x' }] }, 'auth.keys[0].publicKeyPem', /unknown key/);
    rejects({ keys: [hsKey('same'), hsKey('same')] }, 'auth.keys[1].kid', /duplicate kid "same"/);
  });

  it('rejects bad EdDSA keys by name', () => {
    const ed = edKey('e');
    rejects({ keys: [{ ...ed, publicKeyPem: 'not a pem' }] }, 'auth.keys[0].publicKeyPem', /not a PEM public key/);
    rejects({ keys: [{ ...ed, privateKeyPem: 'not a pem' }] }, 'auth.keys[0].privateKeyPem', /not a PEM private key/);
    rejects({ keys: [{ ...ed, privateKeyPem: edKey('other').privateKeyPem }] }, 'auth.keys[0].privateKeyPem', /does not match publicKeyPem/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    rejects({ keys: [{ ...ed, publicKeyPem: rsa }] }, 'auth.keys[0].publicKeyPem', /must be an Ed25519 key \(got rsa\)/);
  });

  it('never puts a secret in the error', () => {
    const secret = 'hunter2-hunter2';
    assert.throws(
      () => validateAuthConfig({ keys: [{ kid: 'a', alg: 'HS256', secret }] }),
      (err: Error) => !err.message.includes(secret),
    );
  });
});

describe('decodeSecret', () => {
  it('decodes canonical base64url of >= 32 bytes', () => {
    const bytes = Buffer.alloc(32, 7);
    assert.deepEqual(Buffer.from(decodeSecret(bytes.toString('base64url'))), bytes);
  });

  it('takes other strings as UTF-8', () => {
    const pass = 'correct horse battery staple, really long!';
    assert.equal(Buffer.from(decodeSecret(pass)).toString('utf8'), pass);
    // Valid base64url, but only 24 bytes decoded: treated as 32 UTF-8 bytes instead.
    const short = Buffer.alloc(24, 1).toString('base64url');
    assert.equal(decodeSecret(short).length, 32);
  });

  it('honours explicit prefixes', () => {
    const b64 = Buffer.alloc(32, 9).toString('base64url');
    assert.equal(Buffer.from(decodeSecret(`utf8:${b64}`)).toString('utf8'), b64);
    assert.deepEqual(Buffer.from(decodeSecret(`base64url:${b64}`)), Buffer.alloc(32, 9));
    assert.throws(() => decodeSecret('base64url:not base64!', 'auth.keys[0].secret'), /^AuthConfigError: auth\.keys\[0\]\.secret: is not valid base64url/);
  });
});
