import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TlsReloader, validateTls, type TlsFiles } from './tls_reload.js';

let dir = '';
const f = (name: string): string => path.join(dir, name);

function pair(name: string, extra: string[] = []): void {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-keyout', f(`${name}.key`), '-out', f(`${name}.crt`), '-days', '1', '-subj', `/CN=${name}`, ...extra], { stdio: 'ignore' });
}

const files = (cert: string, key: string, passphrase = ''): TlsFiles => ({ certFile: f(cert), keyFile: f(key), passphrase });

describe('validateTls', () => {
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'sb-tlsv-'));
    pair('a', ['-nodes']);
    pair('b', ['-nodes']);
    pair('enc', ['-passout', 'pass:s3cret']);
    execFileSync('openssl', ['x509', '-in', f('a.crt'), '-outform', 'DER', '-out', f('a.der')], { stdio: 'ignore' });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts a good pair, with its fingerprint and subject', () => {
    const v = validateTls(files('a.crt', 'a.key'));
    assert.ok(v.ok);
    assert.equal(v.subject, 'CN=a');
    assert.match(v.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it('refuses, naming the file at fault, and never quotes key material', () => {
    const cases: Array<[TlsFiles, string, RegExp]> = [
      [files('missing.crt', 'a.key'), f('missing.crt'), /cannot read the certificate \(ENOENT\)/],
      [files('a.crt', 'missing.key'), f('missing.key'), /cannot read the key \(ENOENT\)/],
      [files('a.der', 'a.key'), f('a.der'), /not a PEM certificate/],
      [files('a.key', 'a.key'), f('a.key'), /not a PEM certificate/],
      [files('a.crt', 'a.crt'), f('a.crt'), /not a PEM private key/],
      [files('a.crt', 'b.key'), `${f('b.key')} and ${f('a.crt')}`, /the key does not match the certificate/],
      [files('enc.crt', 'enc.key'), f('enc.key'), /encrypted: set listen.tls.passphrase/],
      [files('enc.crt', 'enc.key', 'wrong'), f('enc.key'), /passphrase does not open it/],
    ];
    for (const [input, file, problem] of cases) {
      const v = validateTls(input);
      assert.equal(v.ok, false, JSON.stringify(input));
      if (v.ok) continue;
      assert.equal(v.file, file);
      assert.match(v.problem, problem);
      assert.doesNotMatch(v.problem, /PRIVATE KEY|BEGIN/);
    }
    assert.ok(validateTls(files('enc.crt', 'enc.key', 's3cret')).ok, 'the right passphrase opens it');
  });

  it('refuses an expired certificate', () => {
    const v = validateTls(files('a.crt', 'a.key'), Date.now() + 3 * 86_400_000);
    assert.equal(v.ok, false);
    if (!v.ok) assert.match(v.problem, /expired/);
  });
});

describe('TlsReloader', () => {
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'sb-tlsr-unit-'));
    pair('a', ['-nodes']);
    pair('b', ['-nodes']);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('snapshots only validated pairs (0600, in a 0700 dir), tells the shards, and skips an unchanged pair on a file event', async () => {
    writeFileSync(f('cert.pem'), readFileSync(f('a.crt')));
    writeFileSync(f('key.pem'), readFileSync(f('a.key')));
    const lines: Array<{ level: string; msg: string }> = [];
    const applied: TlsFiles[] = [];
    const snap = f('snap');
    const r = new TlsReloader({
      config: { certFile: f('cert.pem'), keyFile: f('key.pem'), passphrase: '', watchDebounceMs: 0 },
      dir: snap,
      log: (level, msg) => lines.push({ level, msg }),
      apply: async (t) => {
        applied.push(t);
        return [{ shard: 0, error: null }];
      },
    });
    r.prepare();
    assert.equal(statSync(snap).mode & 0o777, 0o700);
    assert.equal(statSync(r.live.keyFile).mode & 0o777, 0o600);
    assert.deepEqual(readFileSync(r.live.certFile), readFileSync(f('a.crt')));

    assert.deepEqual(await r.reload('file change', { onlyIfChanged: true }), { ok: true, unchanged: true });
    assert.equal(applied.length, 0);

    writeFileSync(f('cert.pem'), readFileSync(f('b.crt')));
    const refused = await r.reload('SIGHUP');
    assert.equal(refused.ok, false);
    assert.equal(applied.length, 0, 'a refused pair reaches no shard');
    assert.deepEqual(readFileSync(r.live.certFile), readFileSync(f('a.crt')), 'the live snapshot is still A');
    // The same bad pair again on a file event: not logged twice.
    const n = lines.length;
    assert.deepEqual(await r.reload('file change', { onlyIfChanged: true }), { ok: true, unchanged: true });
    assert.equal(lines.length, n);

    writeFileSync(f('key.pem'), readFileSync(f('b.key')));
    const ok = await r.reload('file change', { onlyIfChanged: true });
    assert.ok(ok.ok && 'shards' in ok && ok.shards === 1);
    assert.equal(applied.length, 1);
    assert.deepEqual(readFileSync(applied[0].certFile), readFileSync(f('b.crt')));
    assert.deepEqual(r.live, applied[0]);
    // Two more reloads: only the live snapshot and the one before it are kept.
    await r.reload('SIGHUP');
    await r.reload('SIGHUP');
    assert.equal(readdirSync(snap).length, 4);
    assert.deepEqual(lines.map((l) => l.level), ['info', 'error', 'info', 'info', 'info']);
  });
});
