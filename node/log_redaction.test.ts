/**
 * The logger (supervisor/log.ts) as the node sets it up: a child process logs a whole
 * config full of secrets, a client op with a body, an HTTP request with its
 * Authorization header and an error quoting a JWT; its stderr must hold none of
 * them, and every line must be one JSON event with the stable fields (docs/LOGS.md).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const SECRETS = {
  hs: 'hs256-secret-AAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  api: 'api-key-BBBBBBBBBBBBBBBBBBBBBBBBBBBB',
  pem: '-----BEGIN PRIVATE KEY-----CCCCCCCC',
  url: 'url-secret-DDDDDDDDDDDDDDDDDDDD',
  pass: 'tls-passphrase-EEEEEEEE',
  webhook: 'webhook-secret-FFFFFFFF',
  body: 'the message body GGGGGGGG',
  jwt: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.HHHHHHHHHHHHHHHH',
  ticket: 'ticket-IIIIIIIIIIII',
};

const CHILD = `
import { configureLog, log, logger, setLogLevel } from ${JSON.stringify(path.join(ROOT, 'supervisor/log.ts'))};
import { redact } from ${JSON.stringify(path.join(ROOT, 'node/auth/redact.ts'))};
import { defaultConfig, merge } from ${JSON.stringify(path.join(ROOT, 'node/config.ts'))};
const S = JSON.parse(process.env.SECRETS);
configureLog({ level: 'info', bindings: { node: 'n-1' }, scrub: redact });
const config = merge(defaultConfig(), {
  auth: { keys: [{ kid: 'k1', alg: 'HS256', secret: S.hs }, { kid: 'k2', alg: 'EdDSA', publicKeyPem: 'pub', privateKeyPem: S.pem }] },
  api: { keys: [S.api] },
  listen: { tls: { certFile: 'c.pem', keyFile: 'k.pem', passphrase: S.pass } },
  media: { urlSecret: S.url },
  push: { webhook: { secret: S.webhook } },
});
logger().info({ evt: 'config.loaded', config }, 'config loaded');
log('info', 'op', { op: { op: 'send', conversation: 'c1', clientMsgId: 'm1', body: S.body, meta: { k: S.body } } });
log('warn', 'http', { req: { method: 'GET', path: '/v1/x', authorization: 'Bearer ' + S.api, token: S.jwt } });
log('error', 'auth failed for token ' + S.jwt, { err: 'bad ticket=' + S.ticket + ' bearer: Bearer ' + S.jwt, ticket: S.ticket });
log('debug', 'not at info');
setLogLevel('debug');
log('debug', 'now at debug', { evt: 'x' });
`;

function runChild(): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-log-'));
  const file = path.join(dir, 'child.ts');
  writeFileSync(file, CHILD);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, env: { ...process.env, SECRETS: JSON.stringify(SECRETS) } }, (err, _out, stderr) => {
      rmSync(dir, { recursive: true, force: true });
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(stderr);
    });
  });
}

describe('structured logs', () => {
  it('redact tokens, API keys, secrets and message bodies; one JSON event per line', async () => {
    const stderr = await runChild();
    for (const [what, secret] of Object.entries(SECRETS)) {
      assert.ok(!stderr.includes(secret.slice(-12)), `${what} leaked into the log:\n${stderr}`);
    }
    const lines = stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      lines.map((l) => l.msg),
      ['config loaded', 'op', 'http', `auth failed for token [redacted]`, 'now at debug'],
      'the debug line before setLogLevel is not written',
    );
    for (const l of lines) {
      assert.equal(typeof l.ts, 'string');
      assert.match(l.ts as string, /^\d{4}-\d\d-\d\dT/);
      assert.equal(l.node, 'n-1');
      assert.equal(typeof l.pid, 'number');
    }
    assert.deepEqual(lines.map((l) => l.level), ['info', 'info', 'warn', 'error', 'debug']);
    // What is not secret stays readable: the operator still sees which key and which op.
    const cfg = lines[0].config as { auth: { keys: unknown }; listen: { tls: { certFile: string; passphrase: string } }; node: { id: string } };
    assert.equal(cfg.listen.tls.certFile, 'c.pem');
    assert.equal(cfg.listen.tls.passphrase, '[redacted]');
    assert.equal(cfg.auth.keys, '[redacted]');
    assert.deepEqual(lines[1].op, { op: 'send', conversation: 'c1', clientMsgId: 'm1', body: '[redacted]', meta: '[redacted]' });
    assert.equal((lines[2].req as { authorization: string }).authorization, '[redacted]');
  });
});
