/**
 * A throwaway self-signed certificate for the fake provider servers (APNs needs TLS):
 * P-256, valid one day, for 127.0.0.1 and localhost, made with the openssl CLI in a
 * temp dir. The certificate doubles as the CA the provider client is told to trust.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TestCert {
  cert: string;
  key: string;
}

export function selfSignedCert(cn = 'push-fake'): TestCert {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-push-tls-'));
  try {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${cn}`,
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ], { stdio: 'ignore' });
    return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
