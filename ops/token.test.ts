import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { decodeProtectedHeader } from 'jose';
import { devAuthConfig } from '../node/auth/dev.js';
import { edKey, hsKey } from '../node/auth/fixtures.js';
import { createVerifier } from '../node/auth/verify.js';
import { main } from './token.js';

const CLI = fileURLToPath(new URL('./token.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const root = mkdtempSync(join(tmpdir(), 'sb-token-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Runs the real CLI in `cwd`, as `npm run token` would. */
async function cli(cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', TSX, CLI, ...args], { cwd });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function inProcess(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

function writeConfig(name: string, cfg: unknown): string {
  const path = join(root, name);
  writeFileSync(path, JSON.stringify(cfg));
  return path;
}

describe('ops/token', () => {
  it('with no config, mints a dev token from ./data/dev-secret that the node verifies', async () => {
    const cwd = mkdtempSync(join(root, 'dev-'));
    const r = await cli(cwd, '--user', 'alice', '--device', 'phone', '--ttl', '120');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /dev token/);
    const token = r.stdout.trim();
    assert.equal(statSync(join(cwd, 'data', 'dev-secret')).mode & 0o777, 0o600);
    const id = await createVerifier(devAuthConfig(join(cwd, 'data'))).verify(token);
    assert.deepEqual([id.user, id.device], ['alice', 'phone']);
    assert.ok(Math.abs(id.exp - (Date.now() / 1000 + 120)) < 10);
  });

  it('reads ./switchboard.json and its node.dataDir when present', async () => {
    const cwd = mkdtempSync(join(root, 'sbjson-'));
    writeFileSync(join(cwd, 'switchboard.json'), JSON.stringify({ node: { dataDir: 'state' } }));
    const r = await cli(cwd, '--user', 'bob', '--device', 'web');
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await createVerifier(devAuthConfig(join(cwd, 'state'))).verify(r.stdout.trim())).user, 'bob');
  });

  it('signs with the configured key chosen by --kid, with issuer and audience', async () => {
    const auth = { issuer: 'iss', audience: 'aud', keys: [hsKey('old'), edKey('new')] };
    const r = await inProcess('--user', 'carol', '--device', 'tab', '--config', writeConfig('kid.json', { auth }), '--kid', 'new');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(decodeProtectedHeader(r.stdout).kid, 'new');
    assert.equal(decodeProtectedHeader(r.stdout).alg, 'EdDSA');
    const v = createVerifier({ ...auth, clockToleranceSec: 0, ticketTtlMs: 30_000 });
    assert.equal((await v.verify(r.stdout)).user, 'carol');
  });

  it('skips keys that cannot sign when no --kid is given', async () => {
    const auth = { keys: [edKey('pub', false), hsKey('hs')] };
    const r = await inProcess('--user', 'u', '--device', 'd', '--config', writeConfig('skip.json', { auth }));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(decodeProtectedHeader(r.stdout).kid, 'hs');
  });

  it('fails clearly when no key can sign', async () => {
    const path = writeConfig('pubonly.json', { auth: { keys: [edKey('pub', false)] } });
    const r = await inProcess('--user', 'u', '--device', 'd', '--config', path);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /no key .* can sign: EdDSA keys need privateKeyPem/);
    const k = await inProcess('--user', 'u', '--device', 'd', '--config', path, '--kid', 'pub');
    assert.match(k.stderr, /key "pub" .* EdDSA without privateKeyPem/);
    const missing = await inProcess('--user', 'u', '--device', 'd', '--config', path, '--kid', 'nope');
    assert.match(missing.stderr, /no key with kid "nope" .*\(have: pub\)/);
  });

  it('--data-dir finds the dev secret there without a config (as the node\'s --data-dir does)', async () => {
    const cwd = mkdtempSync(join(root, 'dd-'));
    const r = await cli(cwd, '--user', 'alice', '--device', 'phone', '--data-dir', 'elsewhere');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /secret in elsewhere\/dev-secret/);
    const id = await createVerifier(devAuthConfig(join(cwd, 'elsewhere'))).verify(r.stdout.trim());
    assert.equal(id.user, 'alice');
  });

  it('--ttl=-60 mints a token that has already expired (for a client\'s token_expired path)', async () => {
    const cwd = mkdtempSync(join(root, 'neg-'));
    const r = await cli(cwd, '--user', 'alice', '--device', 'phone', '--ttl=-60');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /expired /);
    await assert.rejects(createVerifier(devAuthConfig(join(cwd, 'data'))).verify(r.stdout.trim()), (e: { code?: string }) => e.code === 'token_expired');
  });

  it('reports bad usage and bad config by name', async () => {
    assert.match((await inProcess('--user', 'u')).stderr, /--user and --device are required\nusage:/);
    assert.equal((await inProcess('--user', 'u', '--device', 'd', '--ttl', '0')).code, 2);
    assert.match((await inProcess('--user', 'u', '--device', 'd', '--frob')).stderr, /Unknown option '--frob'/);
    assert.match((await inProcess('--user', 'u u', '--device', 'd', '--config', writeConfig('ok.json', { auth: { keys: [hsKey()] } }))).stderr, /user must be/);
    const bad = writeConfig('bad.json', { auth: { keys: [{ kid: 'a', alg: 'HS256', secret: 'x' }] } });
    const r = await inProcess('--user', 'u', '--device', 'd', '--config', bad);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /auth\.keys\[0\]\.secret: must be at least 32 bytes/);
    assert.match((await inProcess('--user', 'u', '--device', 'd', '--config', join(root, 'absent.json'))).stderr, /cannot read config/);
  });
});
