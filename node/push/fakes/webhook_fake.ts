/**
 * A fake app backend receiving webhook pushes on loopback, verifying them the way
 * node/push/PROVIDERS.md tells app developers to: POST with a JSON body,
 * `Switchboard-Timestamp` within the replay window of its own clock (default 300 s),
 * `Switchboard-Signature: v1=<hex>` equal in constant time to HMAC-SHA256(secret,
 * "<timestamp>.<raw body>"); a push seen before (same user, device, conversation,
 * seq: a replay or a retry) is acknowledged again and recorded as 'duplicate'.
 * Tests script answers per URL path (410, 429 + Retry-After, 500), take it down, and
 * read the records.
 */
import http from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { FakeProviderServer, flatHeaders, type FakeRecord } from './fake_server.js';

export interface FakeWebhookOptions {
  secret: string;
  windowS?: number;
  now?: () => number;
  port?: number;
}

export class FakeWebhook extends FakeProviderServer {
  private readonly now: () => number;
  private readonly seen = new Set<string>();

  private constructor(private readonly opts: FakeWebhookOptions) {
    super();
    this.now = opts.now ?? Date.now;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const a = this.handle(req, raw);
        let body: unknown = null;
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch {
          /* recorded as null */
        }
        this.records.push({ at: this.now(), method: req.method ?? '', path: req.url ?? '', headers: flatHeaders(req.headers), body, bodyBytes: raw.length, status: a.status, reason: a.reason, extra: {} });
        res.writeHead(a.status, a.retryAfter !== undefined ? { 'retry-after': a.retryAfter } : {});
        res.end(a.reason);
      });
    });
    this.serve(server, 'http');
  }

  static async start(opts: FakeWebhookOptions): Promise<FakeWebhook> {
    const f = new FakeWebhook(opts);
    await f.life.listen(opts.port ?? 0);
    return f;
  }

  get delivered(): FakeRecord[] {
    return this.records.filter((r) => r.status === 200);
  }

  /** Script the answer for pushes to this URL path (e.g. '/hooks/bob'). */

  private handle(req: http.IncomingMessage, raw: Buffer): { status: number; reason: string; retryAfter?: string } {
    if (req.method !== 'POST') return { status: 405, reason: 'POST only' };
    if (!String(req.headers['content-type']).startsWith('application/json')) return { status: 415, reason: 'JSON expected' };
    const ts = String(req.headers['switchboard-timestamp'] ?? '');
    const sig = String(req.headers['switchboard-signature'] ?? '');
    if (!/^\d+$/.test(ts)) return { status: 401, reason: 'Switchboard-Timestamp missing' };
    if (Math.abs(Math.floor(this.now() / 1000) - Number(ts)) > (this.opts.windowS ?? 300)) return { status: 401, reason: 'timestamp outside the replay window' };
    const want = Buffer.from(`v1=${createHmac('sha256', this.opts.secret).update(`${ts}.`).update(raw).digest('hex')}`);
    const got = Buffer.from(sig);
    if (got.length !== want.length || !timingSafeEqual(got, want)) return { status: 401, reason: 'bad signature' };
    let b: { user?: unknown; device?: unknown; conversation?: unknown; seq?: unknown };
    try {
      b = JSON.parse(raw.toString('utf8')) as typeof b;
    } catch {
      return { status: 400, reason: 'body is not JSON' };
    }
    // A replay inside the window (or an at-least-once retry) is the same push again:
    // an idempotent receiver acknowledges it and does not push twice.
    const id = JSON.stringify([b.user, b.device, b.conversation, b.seq]);
    const scripted = this.scripts.take(req.url ?? '');
    if (scripted) return { status: scripted.status, reason: scripted.reason ?? 'scripted', retryAfter: scripted.retryAfter };
    const duplicate = this.seen.has(id);
    this.seen.add(id);
    return { status: 200, reason: duplicate ? 'duplicate' : '' };
  }
}
