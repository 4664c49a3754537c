/**
 * Signed downloads served by the node (the filesystem blob store; S3 serves its own
 * presigned URLs): `GET|HEAD /media/v1/files/<media_id>?exp=&sig=`.
 *
 * Expired or tampered URL: 403. Otherwise the bytes with their sniffed Content-Type,
 * `ETag` (the SHA-256: content-addressed, never changes), `Accept-Ranges`, one
 * `Range` (206 + Content-Range; 416 when unsatisfiable; several ranges get the whole
 * body, which RFC 9110 allows), `X-Content-Type-Options: nosniff` and a
 * Content-Disposition that is `attachment` for anything a browser could run.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { BlobStore } from './blob_store.js';
import type { MediaStore } from './media_store.js';
import type { MediaMetrics } from './media_metrics.js';
import { dispositionFor } from './sniff.js';
import type { UrlSigner } from './url_signer.js';
import { sendError } from './http_util.js';

export interface FileDeps {
  store: MediaStore;
  blobs: BlobStore;
  signer: UrlSigner;
  metrics: MediaMetrics;
  now: () => number;
}

/** A parsed single Range, or 'whole' (absent / multi-range / not bytes), or 'unsatisfiable'. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'whole' | 'unsatisfiable' {
  if (!header) return 'whole';
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return 'whole';
  const [, a, b] = m;
  if (a === '' && b === '') return 'whole';
  if (a === '') {
    const n = Number(b);
    if (n === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

export async function handleFile(req: IncomingMessage, res: ServerResponse, mediaId: string, query: URLSearchParams, deps: FileDeps): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return sendError(res, 405, 'invalid_argument', 'GET or HEAD');
  }
  const check = deps.signer.verify('get', mediaId, query.get('exp'), query.get('sig'), deps.now());
  if (check !== 'ok') return sendError(res, 403, 'forbidden', check === 'expired' ? 'the download URL expired; ask for a new one' : 'bad download URL signature');
  const m = await deps.store.getMedia(mediaId);
  const blob = m && m.state === 'complete' ? await deps.store.getBlob(m.sha256) : null;
  if (!m || !blob || blob.state !== 'stored') return sendError(res, 404, 'invalid_argument', 'no such media');
  const etag = `"${m.sha256}"`;
  const headers: Record<string, string> = {
    'Content-Type': m.mime,
    ETag: etag,
    'Accept-Ranges': 'bytes',
    'X-Content-Type-Options': 'nosniff',
    'Content-Disposition': `${dispositionFor(m.mime)}; filename="${mediaId}"`,
    // The URL is per user and short-lived: shared caches must not keep it.
    'Cache-Control': 'private, max-age=300, immutable',
    // Even a document opened inline could not run script on this origin.
    'Content-Security-Policy': "default-src 'none'; sandbox",
  };
  const inm = req.headers['if-none-match'];
  if (inm && inm.split(',').some((t) => t.trim() === etag || t.trim() === '*')) {
    res.writeHead(304, headers).end();
    return;
  }
  const range = parseRange(req.headers.range, blob.size);
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...headers, 'Content-Range': `bytes */${blob.size}` }).end();
    return;
  }
  const read = await deps.blobs.get(blob.key, range === 'whole' ? undefined : range);
  if (!read) return sendError(res, 404, 'invalid_argument', 'no such media');
  const length = read.end - read.start + 1;
  headers['Content-Length'] = String(length);
  if (range !== 'whole') headers['Content-Range'] = `bytes ${read.start}-${read.end}/${blob.size}`;
  res.writeHead(range === 'whole' ? 200 : 206, headers);
  if (req.method === 'HEAD') {
    read.body.destroy();
    res.end();
    return;
  }
  let sent = 0;
  read.body.on('data', (c: Buffer) => {
    sent += c.length;
  });
  try {
    await pipeline(read.body, res);
  } catch {
    // The client went away; nothing to answer.
  } finally {
    deps.metrics.bytesOut.inc(sent);
  }
}
