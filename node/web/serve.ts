/**
 * HTTP routes of the web chat, under /web/ (node/http_api.ts hands them here when
 * `web.enabled`):
 *
 *   GET  /web                 302 to /web/
 *   GET  /web/                the page (no-cache: it names the current asset hashes)
 *   GET  /web/<name>.<hash>.* the script and stylesheet (cached for a year, immutable)
 *   POST /web/dev-signin      {"user","device"} → 201 {"token","expires_at"}: a dev
 *                             token, only while the node runs on the dev secret (no
 *                             auth.keys); 404 otherwise
 *
 * Every answer carries a Content-Security-Policy that allows nothing but this origin
 * (scripts, styles, the WebSocket and fetches) and the node's own media listener, so
 * the page cannot load anything remote even by mistake.
 */
import { signToken } from '../auth/sign.js';
import type { KeySpec } from '../auth/types.js';
import { ID_PATTERN } from '../core/ids.js';
import type { HttpRequest, HttpResponse } from '../../shards/messages.js';
import { buildAssets, type WebAssets } from './bundle.js';

export const WEB_PATH = '/web/';

/**
 * Nothing but this origin (`connect-src 'self'` covers ws:// and wss:// to it, CSP
 * Level 3), plus the node's media listener when media is on: attachments are uploaded
 * to it (fetch) and shown from it (img), on its own port.
 */
function csp(mediaOrigin: string | null): string {
  const media = mediaOrigin ? ` ${mediaOrigin}` : '';
  return `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:${media}; connect-src 'self'${media}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
}

/**
 * A dev token lives as long as a working day: the page keeps it in sessionStorage
 * and fetches a fresh ticket with it for every connect.
 */
const DEV_TOKEN_TTL_SEC = 12 * 3600;

export interface WebOptions {
  /** The dev HS256 key when the node runs without auth.keys; null disables dev sign-in. */
  devKey: KeySpec | null;
  /** The media listener's public URL (media.publicUrl or the one it chose), or null when media is off. */
  mediaUrl?: string | null;
}

export function webHandler(o: WebOptions): (req: HttpRequest) => Promise<HttpResponse> {
  const COMMON = { 'content-security-policy': csp(o.mediaUrl ? new URL(o.mediaUrl).origin : null), 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };
  const text = (status: number, t: string): HttpResponse => ({ status, headers: { ...COMMON, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }, body: null, text: t });
  let assets: Promise<WebAssets> | null = null;
  const load = (): Promise<WebAssets> => {
    assets ??= buildAssets().catch((e: unknown) => {
      assets = null; // let the next request try again (e.g. after a fixed file)
      throw e;
    });
    return assets;
  };
  return async (req) => {
    const { method, path } = req;
    if (path === '/web' && (method === 'GET' || method === 'HEAD')) return { status: 302, headers: { ...COMMON, location: WEB_PATH }, body: null, text: '' };
    if (path === '/web/dev-signin' && method === 'POST') return devSignIn(req, o.devKey, COMMON);
    if (method !== 'GET' && method !== 'HEAD') return text(405, 'method not allowed');
    const a = await load();
    if (path === WEB_PATH || path === `${WEB_PATH}index.html`) {
      return { status: 200, headers: { ...COMMON, 'content-type': a.index.contentType, 'cache-control': 'no-cache' }, body: null, text: a.index.text };
    }
    const asset = a.byName.get(path.slice(WEB_PATH.length));
    if (!asset) return text(404, 'not found');
    return { status: 200, headers: { ...COMMON, 'content-type': asset.contentType, 'cache-control': 'public, max-age=31536000, immutable' }, body: null, text: asset.text };
  };
}

async function devSignIn(req: HttpRequest, key: KeySpec | null, COMMON: Record<string, string>): Promise<HttpResponse> {
  const json = (status: number, body: unknown): HttpResponse => ({ status, headers: { ...COMMON, 'cache-control': 'no-store' }, body });
  if (!key) return json(404, { code: 'forbidden', message: 'dev sign-in is off: this node has auth.keys configured; sign in with a real token' });
  let b: { user?: unknown; device?: unknown };
  try {
    b = JSON.parse(req.body || '{}') as typeof b;
  } catch {
    return json(400, { code: 'bad_frame', message: 'the body must be a JSON object' });
  }
  if (typeof b.user !== 'string' || !ID_PATTERN.test(b.user)) return json(400, { code: 'invalid_argument', message: 'user: 1..128 characters of [A-Za-z0-9._:@-]' });
  if (typeof b.device !== 'string' || !ID_PATTERN.test(b.device)) return json(400, { code: 'invalid_argument', message: 'device: 1..128 characters of [A-Za-z0-9._:@-]' });
  const token = await signToken({ user: b.user, device: b.device, ttlSec: DEV_TOKEN_TTL_SEC }, key);
  return json(201, { token, expires_at: Date.now() + DEV_TOKEN_TTL_SEC * 1000 });
}
