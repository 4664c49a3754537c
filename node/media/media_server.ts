/**
 * The media listener: a node:http server of its own (not the uWS socket shards, not
 * the host thread) for upload and download bytes. Routes:
 *
 *   OPTIONS|HEAD|PATCH  /media/v1/uploads/<media_id>?exp=&sig=   tus 1.0 core (tus_handler.ts)
 *   GET|HEAD            /media/v1/files/<media_id>?exp=&sig=     signed download (file_handler.ts)
 *   GET                 /metrics                                 this thread's media metrics
 *   GET                 /healthz
 *
 * CORS: browsers upload from the app's origin, so every answer allows any origin and
 * exposes the tus headers (the URLs are capabilities; no cookie is involved).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { handleTus, type TusDeps } from './tus_handler.js';
import { handleFile } from './file_handler.js';
import { sendError } from './http_util.js';

const ROUTE = /^\/media\/v1\/(uploads|files)\/([A-Za-z0-9_-]{22,64})$/;

export interface MediaServerOptions {
  host: string;
  port: number;
  /**
   * A socket with no bytes for this long is closed. 60 s: a phone on a weak link
   * stalls for seconds, not a minute; a dead one must not hold a slot's PATCH lock.
   */
  idleTimeoutMs?: number;
}

function cors(req: IncomingMessage, res: ServerResponse): void {
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Expose-Headers', 'Upload-Offset, Upload-Length, Upload-Expires, Tus-Resumable, Tus-Version, Tus-Max-Size, Tus-Extension, ETag, Content-Range, Content-Disposition');
  if (req.method === 'OPTIONS') {
    res.setHeader('Access-Control-Allow-Methods', 'OPTIONS, HEAD, PATCH, GET');
    res.setHeader('Access-Control-Allow-Headers', 'Tus-Resumable, Upload-Offset, Upload-Length, Content-Type, Range, If-None-Match');
    res.setHeader('Access-Control-Max-Age', '86400');
  }
}

export class MediaServer {
  private readonly server: Server;
  port = 0;

  constructor(
    private readonly opts: MediaServerOptions,
    private readonly deps: TusDeps & { metricsText: () => Promise<string> },
  ) {
    this.server = createServer((req, res) => void this.route(req, res));
    this.server.requestTimeout = 0; // a 100 MiB PATCH on a slow link takes long; idleness is what we bound
    this.server.headersTimeout = 30_000;
    this.server.setTimeout(opts.idleTimeoutMs ?? 60_000, (socket) => socket.destroy());
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.port = (this.server.address() as AddressInfo).port;
        resolve(this.port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      cors(req, res);
      const url = new URL(req.url ?? '/', 'http://media');
      const m = ROUTE.exec(url.pathname);
      if (m && m[1] === 'uploads') return await handleTus(req, res, m[2], url.searchParams, this.deps);
      if (m && m[1] === 'files') return await handleFile(req, res, m[2], url.searchParams, this.deps);
      if (req.method === 'GET' && url.pathname === '/metrics') {
        const text = await this.deps.metricsText();
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' }).end(text);
        return;
      }
      if (req.method === 'GET' && url.pathname === '/healthz') {
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"status":"ok"}');
        return;
      }
      if (req.method === 'OPTIONS') {
        res.writeHead(204).end();
        return;
      }
      sendError(res, 404, 'invalid_argument', `no route ${req.method} ${url.pathname}`);
    } catch (e) {
      this.deps.log('error', 'media listener: request failed', { error: e instanceof Error ? e.message : String(e) });
      sendError(res, 500, 'internal', 'internal error');
    }
  }
}
