/**
 * Resumable upload, tus 1.0 core (https://tus.io/protocols/resumable-upload), on the
 * slot URL the media service handed out (`/media/v1/uploads/<media_id>?exp=&sig=`,
 * a capability for the slot's owner until the slot expires):
 *
 *   OPTIONS  204, Tus-Version / Tus-Max-Size / Tus-Extension (expiration)
 *   HEAD     200, Upload-Offset (bytes this node has staged), Upload-Length, Upload-Expires
 *   PATCH    Content-Type: application/offset+octet-stream, Upload-Offset = the server's
 *            offset (else 409); appends; 204 with the new Upload-Offset. The PATCH that
 *            brings the offset to Upload-Length also finishes the upload (hash, sniff,
 *            dedup; upload_finish.ts) before it answers: 204 when stored, else the
 *            refusal as JSON {code, message} (422 mismatch, 413 too long, ...).
 *
 * Every request needs `Tus-Resumable: 1.0.0` except OPTIONS (412 otherwise). Bytes are
 * staged in a file per upload under the data dir; a cut PATCH keeps what was written,
 * and HEAD tells the client where to continue.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { MediaStore, MediaRow } from './media_store.js';
import { MediaError } from './media_rules.js';
import { discardSlot, finishUpload, type FinishDeps } from './upload_finish.js';
import type { UrlSigner } from './url_signer.js';
import { sendError } from './http_util.js';

export const TUS_VERSION = '1.0.0';

export interface TusDeps extends FinishDeps {
  store: MediaStore;
  signer: UrlSigner;
  stagingDir: string;
  maxBytes: number;
}

/** Uploads with a PATCH in progress on this node: a second one at once gets 409. */
const busy = new Set<string>();

function tusHeaders(res: ServerResponse): void {
  res.setHeader('Tus-Resumable', TUS_VERSION);
  res.setHeader('Cache-Control', 'no-store');
}

export function stagingFile(dir: string, mediaId: string): string {
  return path.join(dir, mediaId);
}

async function stagedBytes(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
}

export async function handleTus(req: IncomingMessage, res: ServerResponse, mediaId: string, query: URLSearchParams, deps: TusDeps): Promise<void> {
  tusHeaders(res);
  if (req.method === 'OPTIONS') {
    res.writeHead(204, { 'Tus-Version': TUS_VERSION, 'Tus-Max-Size': String(deps.maxBytes), 'Tus-Extension': 'expiration' }).end();
    return;
  }
  if (req.headers['tus-resumable'] !== TUS_VERSION) {
    res.writeHead(412, { 'Tus-Version': TUS_VERSION }).end();
    return;
  }
  const now = deps.now();
  const check = deps.signer.verify('upload', mediaId, query.get('exp'), query.get('sig'), now);
  if (check === 'bad_signature') return sendError(res, 403, 'forbidden', 'bad upload URL signature');
  const slot = await deps.store.getMedia(mediaId);
  if (!slot) return sendError(res, 404, 'invalid_argument', 'no such upload (expired, refused or never created)');
  if (slot.state !== 'open') {
    // Finished already: a client that lost the last PATCH's answer asks again.
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'Upload-Offset': String(slot.size), 'Upload-Length': String(slot.size) }).end();
      return;
    }
    return sendError(res, 409, 'invalid_argument', 'the upload is already complete');
  }
  if (check === 'expired' || slot.expiresAt < now) return sendError(res, 410, 'invalid_argument', 'the upload slot expired; request a new one');
  const file = stagingFile(deps.stagingDir, mediaId);
  const expires = new Date(slot.expiresAt).toUTCString();
  if (req.method === 'HEAD') {
    res.writeHead(200, { 'Upload-Offset': String(await stagedBytes(file)), 'Upload-Length': String(slot.size), 'Upload-Expires': expires }).end();
    return;
  }
  if (req.method !== 'PATCH') {
    res.setHeader('Allow', 'OPTIONS, HEAD, PATCH');
    return sendError(res, 405, 'invalid_argument', `${req.method} is not part of tus core`);
  }
  if ((req.headers['content-type'] ?? '').split(';')[0].trim() !== 'application/offset+octet-stream') {
    return sendError(res, 415, 'invalid_argument', 'Content-Type must be application/offset+octet-stream');
  }
  if (busy.has(mediaId)) return sendError(res, 409, 'invalid_argument', 'another PATCH of this upload is in progress; HEAD and resume');
  busy.add(mediaId);
  try {
    await patch(req, res, slot, file, expires, deps);
  } finally {
    busy.delete(mediaId);
  }
}

async function patch(req: IncomingMessage, res: ServerResponse, slot: MediaRow, file: string, expires: string, deps: TusDeps): Promise<void> {
  const offset = await stagedBytes(file);
  const h = req.headers['upload-offset'];
  const claimed = Array.isArray(h) ? h[0] : h;
  if (claimed === undefined || !/^\d+$/.test(claimed) || Number(claimed) !== offset) {
    res.setHeader('Upload-Offset', String(offset));
    return sendError(res, 409, 'invalid_argument', `Upload-Offset ${claimed ?? '(missing)'} does not match the server's ${offset}; HEAD and resume from there`);
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && offset + Number(declared) > slot.size) {
    return refuse(res, deps, slot, file, new MediaError('media_size_mismatch', `size mismatch: ${offset + Number(declared)} bytes would exceed the declared ${slot.size}`), 413);
  }
  let received = 0;
  let overflow = false;
  const room = slot.size - offset;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      received += chunk.length;
      if (received > room) {
        overflow = true;
        cb(new Error('overflow'));
        return;
      }
      cb(null, chunk);
    },
  });
  try {
    await pipeline(req, counter, createWriteStream(file, { flags: 'a' }));
  } catch (e) {
    if (overflow) {
      return refuse(res, deps, slot, file, new MediaError('media_size_mismatch', `size mismatch: more bytes than the declared ${slot.size}`), 413);
    }
    // The client went away mid-body: what reached the file stays, HEAD reports it.
    deps.metrics.bytesIn.inc(received);
    if (!res.headersSent && !res.destroyed) sendError(res, 400, 'invalid_argument', `upload interrupted: ${(e as Error).message}`);
    return;
  }
  deps.metrics.bytesIn.inc(received);
  const now = offset + received;
  if (now < slot.size) {
    // Informational (HEAD reads the staged file); the completing PATCH skips it: completion records the rest.
    await deps.store.setOffset(slot.mediaId, now);
    res.writeHead(204, { 'Upload-Offset': String(now), 'Upload-Expires': expires }).end();
    return;
  }
  try {
    await finishUpload(deps, slot, file);
  } catch (e) {
    const err = e instanceof MediaError ? e : new MediaError('internal', 'internal error');
    return sendError(res, statusOf(err.code), err.code, err.message, err.retryAfterMs);
  }
  res.writeHead(204, { 'Upload-Offset': String(now) }).end();
}

async function refuse(res: ServerResponse, deps: TusDeps, slot: MediaRow, file: string, err: MediaError, status: number): Promise<void> {
  deps.metrics.uploadsRefused.inc({ code: err.code });
  await discardSlot(deps, slot, file);
  // The rest of the body is not read; close the connection after answering.
  res.setHeader('Connection', 'close');
  sendError(res, status, err.code, err.message);
}

export function statusOf(code: MediaError['code']): number {
  switch (code) {
    case 'media_size_mismatch':
    case 'media_hash_mismatch':
    case 'media_type_mismatch':
      return 422;
    case 'limit_exceeded':
      return 413;
    case 'quota_exceeded':
      return 429;
    case 'forbidden':
      return 403;
    case 'not_member':
      return 404;
    case 'unavailable':
      return 503;
    case 'internal':
      return 500;
    default:
      return 400;
  }
}
