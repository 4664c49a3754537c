import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { devAuthConfig, loadOrCreateDevSecret } from './dev.js';
import { signToken } from './sign.js';
import { createVerifier } from './verify.js';

const root = mkdtempSync(join(tmpdir(), 'sb-auth-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('loadOrCreateDevSecret', () => {
  it('creates a 32-byte base64url secret with mode 0600, then reuses it', () => {
    const dir = join(root, 'a', 'nested');
    const s1 = loadOrCreateDevSecret(dir);
    assert.match(s1, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(s1, 'base64url').length, 32);
    assert.equal(statSync(join(dir, 'dev-secret')).mode & 0o777, 0o600);
    assert.equal(loadOrCreateDevSecret(dir), s1);
    assert.equal(readFileSync(join(dir, 'dev-secret'), 'utf8').trim(), s1);
    assert.deepEqual(readdirSync(dir), ['dev-secret'], 'temporary file left behind');
  });

  it('differs between data dirs', () => {
    assert.notEqual(loadOrCreateDevSecret(join(root, 'b')), loadOrCreateDevSecret(join(root, 'c')));
  });

  it('refuses a truncated secret file, naming it', () => {
    const dir = join(root, 'd');
    loadOrCreateDevSecret(dir);
    writeFileSync(join(dir, 'dev-secret'), 'short\n');
    assert.throws(() => loadOrCreateDevSecret(dir), /dev-secret: dev secret must be base64url of at least 32 bytes/);
  });

  it('gives a config whose key mints tokens the verifier accepts', async () => {
    const cfg = devAuthConfig(join(root, 'e'));
    const token = await signToken({ user: 'alice', device: 'phone', ttlSec: 60 }, cfg.keys[0]);
    assert.equal((await createVerifier(cfg).verify(token)).device, 'phone');
    // A verifier built later from the same data dir (a restarted node) agrees.
    assert.equal((await createVerifier(devAuthConfig(join(root, 'e'))).verify(token)).user, 'alice');
  });
});
