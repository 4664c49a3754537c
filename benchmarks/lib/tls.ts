/**
 * A throwaway self-signed certificate for WSS runs (`--tls`): EC P-256, valid for a
 * day, for 127.0.0.1 (and every 127.0.0.x the workers bind to as source addresses,
 * which never appear in the server name anyway). Clients trust it through `ca`, so
 * the run exercises real certificate verification, not `rejectUnauthorized: false`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface BenchCert {
  certFile: string;
  keyFile: string;
  /** The PEM certificate, handed to clients as their only trusted CA. */
  ca: string;
  cleanup(): void;
}

export function selfSignedCert(): BenchCert {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-bench-tls-'));
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
    { stdio: 'ignore' },
  );
  return { certFile, keyFile, ca: readFileSync(certFile, 'utf8'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
