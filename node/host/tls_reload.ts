/**
 * TLS certificate reload without dropping a socket (issue 18 item 4).
 *
 * The host validates the configured certificate and key (readable, PEM, the key opens
 * with the passphrase and matches the certificate, not expired, OpenSSL accepts the
 * pair) and only then copies the pair it validated into a snapshot under the data dir
 * and tells every shard to load that snapshot. So a bad or half-written pair never
 * reaches a shard: it is refused with one log line naming the file, and the shards keep
 * serving the pair they have. A shard restarted later by its supervisor starts from the
 * last good snapshot too, never from whatever the configured files hold at that moment.
 *
 * Triggers: SIGHUP (node/main.ts), and a change in the directory of the certificate or
 * the key file (fs.watch, debounced by listen.tls.watchDebounceMs; 0 turns the watch
 * off). The directory is watched, not the files: renewals replace files (rename, or
 * re-pointed symlinks as certbot and Kubernetes secret mounts do), and a watch on the
 * old file would never fire again. Only a pair whose bytes differ from the one in use
 * (or from the last one refused) is acted on, so a touch or an unrelated event is free.
 *
 * How a shard switches (shards/listener.ts reloadTls): uWebSockets.js cannot swap the
 * certificate of a listening SSLApp, so the shard builds a fresh SSLApp on the same
 * port (every shard already listens with SO_REUSEPORT), then closes only the old app's
 * listen socket. Accepted sockets belong to the old app and stay up on it.
 *
 * Key material is never logged: the log lines carry file names, the subject, expiry
 * and the SHA-256 fingerprint of the certificate.
 */
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import type { TlsConfig } from '../config.js';

/** What a shard loads: file names uWS reads itself (it takes no PEM in memory). */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
  passphrase: string;
}

export interface ValidTls {
  ok: true;
  cert: Buffer;
  key: Buffer;
  /** sha256 of cert and key bytes: tells a real change from a touch. */
  digest: string;
  fingerprint256: string;
  subject: string;
  validTo: string;
}

export interface RefusedTls {
  ok: false;
  /** The file at fault (both names when the pair does not match). */
  file: string;
  problem: string;
  digest: string;
}

/** Read and check a certificate and key pair. Never throws; never puts key bytes in the result's text. */
export function validateTls(files: TlsFiles, now = Date.now()): ValidTls | RefusedTls {
  let cert: Buffer;
  let key: Buffer;
  try {
    cert = readFileSync(files.certFile);
  } catch (e) {
    return { ok: false, file: files.certFile, problem: `cannot read the certificate (${errCode(e)})`, digest: '' };
  }
  try {
    key = readFileSync(files.keyFile);
  } catch (e) {
    return { ok: false, file: files.keyFile, problem: `cannot read the key (${errCode(e)})`, digest: '' };
  }
  const digest = createHash('sha256').update(cert).update('\0').update(key).digest('hex');
  const refuse = (file: string, problem: string): RefusedTls => ({ ok: false, file, problem, digest });
  // uWS loads the chain with SSL_CTX_use_certificate_chain_file: PEM only.
  if (!cert.includes('-----BEGIN CERTIFICATE-----')) return refuse(files.certFile, 'not a PEM certificate');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    return refuse(files.certFile, 'not a valid PEM certificate');
  }
  let pk: KeyObject;
  try {
    pk = createPrivateKey({ key, format: 'pem', ...(files.passphrase ? { passphrase: files.passphrase } : {}) });
  } catch {
    return refuse(files.keyFile, files.passphrase ? 'not a PEM private key, or the passphrase does not open it' : 'not a PEM private key (or encrypted: set listen.tls.passphrase)');
  }
  if (!x509.checkPrivateKey(pk)) return refuse(`${files.keyFile} and ${files.certFile}`, 'the key does not match the certificate');
  if (Date.parse(x509.validTo) <= now) return refuse(files.certFile, `the certificate expired (${x509.validTo})`);
  try {
    createSecureContext({ cert, key, ...(files.passphrase ? { passphrase: files.passphrase } : {}) });
  } catch (e) {
    return refuse(files.certFile, `OpenSSL refuses the pair (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
  }
  return { ok: true, cert, key, digest, fingerprint256: x509.fingerprint256, subject: x509.subject.replace(/\n/g, ', '), validTo: x509.validTo };
}

function errCode(e: unknown): string {
  return (e as NodeJS.ErrnoException)?.code ?? String(e);
}

export type Log = (level: string, msg: string, fields?: Record<string, unknown>) => void;

export interface ReloaderDeps {
  /** The configured files (what operators replace). */
  config: TlsConfig;
  /** Where validated snapshots are written (created 0700; files 0600). */
  dir: string;
  log: Log;
  /**
   * Tell every running shard to load `files`; resolves with one entry per shard told,
   * an error text or null for success.
   */
  apply: (files: TlsFiles, gen: number) => Promise<Array<{ shard: number; error: string | null }>>;
}

export type ReloadOutcome = { ok: true; fingerprint256: string; shards: number; failed: number } | { ok: false; file: string; problem: string } | { ok: true; unchanged: true };

export class TlsReloader {
  /**
   * What a shard starting now loads: the last good snapshot. The very object given to
   * every shard's workerData (host.ts shardSpec), updated in place, so a restarted
   * shard gets the current pair.
   */
  readonly live: TlsFiles;
  private gen = 0;
  private digest = '';
  private refusedDigest = '';
  /** Of the certificate in use, for the refusal line. */
  private fingerprint = '';
  private chain: Promise<unknown> = Promise.resolve();
  private watchers: FSWatcher[] = [];
  private debounce: NodeJS.Timeout | null = null;

  constructor(private readonly deps: ReloaderDeps) {
    this.live = { certFile: '', keyFile: '', passphrase: deps.config.passphrase };
  }

  /**
   * Validate the configured pair and write the first snapshot. Throws with the file and
   * the problem when the pair is bad (the node must not start on it).
   */
  prepare(): void {
    mkdirSync(this.deps.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.deps.dir, 0o700);
    // Snapshots of an earlier run: nothing uses them any more.
    for (const f of readdirSync(this.deps.dir)) if (/^gen-\d+-(cert|key)\.pem(\.tmp)?$/.test(f)) rmSync(path.join(this.deps.dir, f), { force: true });
    const v = validateTls(this.deps.config);
    if (!v.ok) throw new Error(`listen.tls: ${v.file}: ${v.problem}`);
    this.snapshot(v);
    this.deps.log('info', 'TLS certificate loaded', { certFile: this.deps.config.certFile, keyFile: this.deps.config.keyFile, fingerprint256: v.fingerprint256, subject: v.subject, validTo: v.validTo });
  }

  /** Re-read the configured files and switch every shard to them if they are good. Serialised. */
  reload(reason: string, opts: { onlyIfChanged?: boolean } = {}): Promise<ReloadOutcome> {
    const run = this.chain.then(() => this.reloadNow(reason, opts.onlyIfChanged ?? false));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async reloadNow(reason: string, onlyIfChanged: boolean): Promise<ReloadOutcome> {
    const cfg = this.deps.config;
    const v = validateTls(cfg);
    if (onlyIfChanged && v.digest !== '' && (v.digest === this.digest || v.digest === this.refusedDigest)) return { ok: true, unchanged: true };
    if (!v.ok) {
      this.refusedDigest = v.digest;
      this.deps.log('error', `TLS reload refused: ${v.file}: ${v.problem}; the current certificate stays in use`, { reason, file: v.file, problem: v.problem, certFile: cfg.certFile, keyFile: cfg.keyFile, fingerprint256: this.fingerprint });
      return { ok: false, file: v.file, problem: v.problem };
    }
    const previous = this.gen;
    this.snapshot(v);
    const results = await this.deps.apply({ ...this.live }, this.gen);
    const failed = results.filter((r) => r.error !== null);
    for (const f of failed) this.deps.log('error', `TLS reload failed on shard ${f.shard}: ${f.error}; that shard keeps its previous certificate`, { reason, shard: f.shard });
    // The snapshot before the previous one is no longer read by anything.
    this.removeGen(previous - 1);
    this.deps.log(failed.length ? 'warn' : 'info', 'TLS certificate reloaded: new connections get the new certificate, open sockets stay', {
      reason,
      certFile: cfg.certFile,
      keyFile: cfg.keyFile,
      fingerprint256: v.fingerprint256,
      subject: v.subject,
      validTo: v.validTo,
      shards: results.length,
      failed: failed.length,
    });
    return { ok: true, fingerprint256: v.fingerprint256, shards: results.length, failed: failed.length };
  }

  private snapshot(v: ValidTls): void {
    const gen = this.gen + 1;
    const cert = path.join(this.deps.dir, `gen-${gen}-cert.pem`);
    const key = path.join(this.deps.dir, `gen-${gen}-key.pem`);
    for (const [file, bytes] of [[cert, v.cert], [key, v.key]] as const) {
      writeFileSync(file + '.tmp', bytes, { mode: 0o600 });
      renameSync(file + '.tmp', file);
    }
    this.gen = gen;
    this.digest = v.digest;
    this.refusedDigest = '';
    this.fingerprint = v.fingerprint256;
    this.live.certFile = cert;
    this.live.keyFile = key;
  }

  private removeGen(gen: number): void {
    if (gen < 1) return;
    for (const k of ['cert', 'key']) rmSync(path.join(this.deps.dir, `gen-${gen}-${k}.pem`), { force: true });
  }

  /** Watch the directories of the certificate and key files; a change reloads after `debounceMs` of quiet. */
  watch(debounceMs: number): void {
    if (debounceMs <= 0) return;
    const cfg = this.deps.config;
    const dirs = new Set([path.dirname(path.resolve(cfg.certFile)), path.dirname(path.resolve(cfg.keyFile))]);
    const names = new Set([path.basename(cfg.certFile), path.basename(cfg.keyFile)]);
    // Only events about the two files count (or Kubernetes' `..data` symlink swap, or an
    // event without a name): a directory shared with busy files (the SQLite file in the
    // data dir) would otherwise keep restarting the debounce.
    const relevant = (name: string | null): boolean => name === null || names.has(name) || name.startsWith('..');
    for (const dir of dirs) {
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => {
          if (relevant(name === null ? null : String(name))) this.changed(debounceMs);
        });
        w.on('error', (e) => this.deps.log('warn', 'TLS file watch failed; SIGHUP still reloads', { dir, err: String(e) }));
        this.watchers.push(w);
      } catch (e) {
        this.deps.log('warn', 'cannot watch the TLS files; SIGHUP still reloads', { dir, err: String(e) });
      }
    }
  }

  private changed(debounceMs: number): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = null;
      // Any event in the directory lands here (renewals swap symlinks and rename files):
      // only a pair whose bytes differ from the one in use, or from the last refused, counts.
      void this.reload('file change', { onlyIfChanged: true });
    }, debounceMs);
    this.debounce.unref();
  }

  stop(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = null;
  }
}
