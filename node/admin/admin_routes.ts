/**
 * The admin HTTP API (`/admin/*`): request in, {status, body} out, like node/http_api.ts
 * which hands every /admin/ path here. Every call needs one of the node's `api.keys`
 * (compared in constant time: admin_auth.ts) and leaves one audit line in the log:
 * who (the key's hash prefix, never the key), what (method, path), the result (status).
 *
 *   GET  /admin/status[?format=json]     the supervision tree (text), or JSON with per-shard connections and queues
 *   GET  /admin/connections              connections per shard
 *   GET  /admin/sessions/:user           the user's connections (in a cell: on every node)
 *   POST /admin/kick {user, device?}     close them with close code 4409 `kicked` (in a cell: where they are)
 *   POST /admin/drain {node?}            drain this node (as SIGTERM), or another node of the cell
 *   GET  /admin/trace?conversation=C[&seq=N|&message=ID]   where a message / conversation is
 *   GET  /admin/cluster                  members, links, routes, shard owners and epochs (503 off a cell)
 *   GET|POST /admin/log-level {level}    the log level, changed at run time (host and shards)
 *
 * `?local=1` on sessions and kick: only this node (what one node asks another).
 * Answers are what the operations return (node/admin/admin_service.ts); ops/ctl renders them.
 */
import { CatalogError } from '../../protocol/errors.js';
import type { HttpRequest, HttpResponse } from '../../shards/messages.js';
import { ID_PATTERN } from '../core/ids.js';
import { LOG_LEVELS, logger, type LogLevel } from '../../supervisor/log.js';
import { apiKeyMatches, keyId } from './admin_auth.js';

/** What the admin routes call; node/admin/admin_service.ts implements it on a running node. */
export interface AdminApi {
  /** The live supervision tree as text (supervisor/tree.ts formatTree). */
  status(): string;
  statusJson(): Promise<unknown>;
  connections(): unknown;
  /** `auth`: the caller's Authorization header, to ask the other nodes of a cell with. */
  sessions(user: string, local: boolean, auth: string): Promise<unknown>;
  kick(user: string, device: string | null, local: boolean, auth: string): Promise<unknown>;
  /** Drain this node (node null or this node's id) or another member of the cell. */
  drain(node: string | null, auth: string): Promise<{ status: number; body: unknown }>;
  trace(q: { conversation: string; seq: number | null; message: string | null }): Promise<unknown>;
  /** Absent when the node is not in a cell. */
  cluster?(): Promise<unknown>;
  logLevel(): LogLevel;
  setLogLevel(level: LogLevel): { previous: LogLevel; level: LogLevel };
}

/** A 404 in the shape of every error answer ({code, message, retryable}). */
export class NotFound extends Error {}

export async function handleAdmin(req: HttpRequest, api: AdminApi, apiKeys: readonly string[]): Promise<HttpResponse> {
  const who = keyId(req.authorization);
  if (!apiKeyMatches(req.authorization, apiKeys)) {
    logger().warn({ evt: 'admin.denied', key: who, method: req.method, path: req.path, status: 401 }, 'admin call refused: no valid API key');
    return err(401, 'unauthenticated', apiKeys.length ? 'Authorization: Bearer <api key> required' : 'the admin API is off: set api.keys in the config');
  }
  let res: HttpResponse;
  try {
    res = await route(req, api);
  } catch (e) {
    if (e instanceof NotFound) res = err(404, 'invalid_argument', e.message);
    else if (e instanceof CatalogError) res = err(e.code === 'unavailable' ? 503 : e.code === 'invalid_argument' || e.code === 'bad_frame' ? 400 : 500, e.code, e.message);
    else {
      logger().error({ evt: 'admin.failed', method: req.method, path: req.path, err: (e as Error)?.stack ?? String(e) }, 'admin call failed');
      res = err(500, 'internal', 'internal error');
    }
  }
  const q = new URLSearchParams(req.query);
  // The audit line: who, what, result. Query and body carry no secrets here (user ids, levels).
  logger().info(
    { evt: 'admin.call', key: who, method: req.method, path: req.path, ...(req.query ? { query: q.toString() } : {}), status: res.status },
    `admin ${req.method} ${req.path} -> ${res.status}`,
  );
  return res;
}

function err(status: number, code: string, message: string): HttpResponse {
  return { status, body: { code, message, retryable: code === 'unavailable' } };
}

async function route(req: HttpRequest, api: AdminApi): Promise<HttpResponse> {
  const { method, path } = req;
  const q = new URLSearchParams(req.query);
  const local = q.get('local') === '1';
  if (method === 'GET' && path === '/admin/status') {
    const format = q.get('format');
    if (format === 'json') return { status: 200, body: await api.statusJson() };
    if (format !== null && format !== 'text') throw new CatalogError('invalid_argument', 'format: must be json or text');
    return { status: 200, body: null, text: api.status() };
  }
  if (method === 'GET' && path === '/admin/connections') return { status: 200, body: api.connections() };
  const s = /^\/admin\/sessions\/([^/]+)$/.exec(path);
  if (method === 'GET' && s) return { status: 200, body: await api.sessions(userId(decodeURIComponent(s[1]), 'user'), local, req.authorization) };
  if (method === 'POST' && path === '/admin/kick') {
    const b = json(req.body);
    const device = b.device === undefined || b.device === null || b.device === '' ? null : userId(b.device, 'device');
    return { status: 200, body: await api.kick(userId(b.user, 'user'), device, local, req.authorization) };
  }
  if (method === 'POST' && path === '/admin/drain') {
    const b = json(req.body);
    const node = b.node === undefined || b.node === null || b.node === '' ? null : userId(b.node, 'node');
    return api.drain(node, req.authorization);
  }
  if (method === 'GET' && path === '/admin/trace') {
    const conversation = q.get('conversation') ?? '';
    if (!conversation) throw new CatalogError('invalid_argument', 'conversation: required (?conversation=ID, with &seq=N or &message=ID for one message)');
    const seqText = q.get('seq');
    let seq: number | null = null;
    if (seqText !== null) {
      seq = Number(seqText);
      if (!/^\d+$/.test(seqText) || !Number.isSafeInteger(seq) || seq < 1) throw new CatalogError('invalid_argument', 'seq: must be an integer from 1 to 2^53 - 1');
    }
    const message = q.get('message');
    if (seq !== null && message !== null) throw new CatalogError('invalid_argument', 'seq and message: give one, not both');
    return { status: 200, body: await api.trace({ conversation, seq, message }) };
  }
  if (method === 'GET' && path === '/admin/cluster') {
    if (!api.cluster) return err(503, 'unavailable', 'this node is not in a cluster');
    return { status: 200, body: await api.cluster() };
  }
  if (path === '/admin/log-level') {
    if (method === 'GET') return { status: 200, body: { level: api.logLevel() } };
    if (method === 'POST') {
      const level = json(req.body).level;
      if (typeof level !== 'string' || !(LOG_LEVELS as readonly string[]).includes(level)) {
        throw new CatalogError('invalid_argument', `level: must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(level)})`);
      }
      return { status: 200, body: api.setLogLevel(level as LogLevel) };
    }
  }
  throw new NotFound(`no admin route ${method} ${path}`);
}

function userId(v: unknown, key: string): string {
  if (typeof v !== 'string' || !ID_PATTERN.test(v)) throw new CatalogError('invalid_argument', `${key}: must be an id of 1 to 128 characters [A-Za-z0-9._:@-] (got ${JSON.stringify(v)})`);
  return v;
}

function json(body: string): Record<string, unknown> {
  if (!body) return {};
  try {
    const v: unknown = JSON.parse(body);
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* below */
  }
  throw new CatalogError('bad_frame', 'the body must be a JSON object');
}
