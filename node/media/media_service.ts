/**
 * The media service as the host (message path) sees it: hand out upload slots,
 * accept a media_id on a send, record the reference, give members a short-lived
 * download URL. The bytes never pass through here: the upload goes to the media
 * listener thread (media_server.ts) and the download to it or straight to S3.
 *
 * Rules are in media_rules.ts; this file is the I/O around them.
 */
import { randomBytes } from 'node:crypto';
import type { BlobStore } from './blob_store.js';
import type { MediaRow, MediaStore } from './media_store.js';
import { MediaError, quotaRefusal, utcDay, validateSlot, type MediaLimits, type SlotRequest } from './media_rules.js';
import { dispositionFor } from './sniff.js';
import type { UrlSigner } from './url_signer.js';
import type { MediaRefInfo } from '../core/ops.js';

export interface MediaServiceOptions extends MediaLimits {
  /** Lifetime of a download URL. */
  urlTtlMs: number;
  /** Base URL of this node's media listener, e.g. http://127.0.0.1:8081 (no trailing slash). */
  publicUrl: string;
  nodeId: string;
}

export interface Slot {
  mediaId: string;
  uploadUrl: string;
  expiresAt: number;
}

/** What a message carries about its media: the contract's MediaRefInfo (node/core/ops.ts), blurhash always set here. */
export type MediaReference = MediaRefInfo & { blurhash: string };

export interface MediaServiceDeps {
  store: MediaStore;
  blobs: BlobStore;
  signer: UrlSigner;
  /** Is `user` a member of `conversation` (as the chat service knows it)? */
  isMember: (user: string, conversation: string) => Promise<boolean>;
  /** Counts slot requests refused by the quota (the host's registry). */
  metrics?: { quotaRefusals: { inc(): void } };
  now?: () => number;
}

const MEDIA_ID = /^[A-Za-z0-9_-]{22,64}$/;

export function newMediaId(): string {
  return randomBytes(18).toString('base64url');
}

export function uploadPath(mediaId: string): string {
  return `/media/v1/uploads/${mediaId}`;
}

export function filePath(mediaId: string): string {
  return `/media/v1/files/${mediaId}`;
}

export class MediaService {
  private readonly now: () => number;

  constructor(
    private readonly opts: MediaServiceOptions,
    private readonly deps: MediaServiceDeps,
  ) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * A slot for one upload: membership, size, then quota (charged now, for the
   * declared size, and given back if the upload fails or expires, so parallel
   * slots cannot overshoot the quota by more than the check-to-charge race).
   */
  async createSlot(user: string, req: SlotRequest): Promise<Slot> {
    const { mime, sha256 } = validateSlot(req, this.opts);
    if (!(await this.deps.isMember(user, req.conversation))) throw new MediaError('not_member', 'not a member of this conversation');
    const now = this.now();
    const day = utcDay(now);
    const refusal = quotaRefusal(await this.deps.store.getUsage(user, day), req.size, this.opts, now);
    if (refusal) {
      this.deps.metrics?.quotaRefusals.inc();
      throw refusal;
    }
    const mediaId = newMediaId();
    const expiresAt = now + this.opts.slotTtlMs;
    await this.deps.store.createSlot(
      { mediaId, owner: user, conversation: req.conversation, size: req.size, declaredMime: mime, declaredSha256: sha256, createdAt: now, expiresAt, node: this.opts.nodeId },
      day,
    );
    return { mediaId, uploadUrl: `${this.opts.publicUrl}${uploadPath(mediaId)}?${this.deps.signer.query('upload', mediaId, expiresAt)}`, expiresAt };
  }

  /** The reference a send may carry: only media the sender uploaded, complete, for this conversation. */
  async checkAttach(user: string, mediaId: string, conversation: string): Promise<MediaReference> {
    const m = await this.get(mediaId);
    if (m.owner !== user) throw new MediaError('forbidden', 'media_id: not uploaded by the sender');
    if (m.state !== 'complete') throw new MediaError('invalid_argument', 'media_id: the upload is not complete');
    if (m.conversation !== conversation) throw new MediaError('forbidden', 'media_id: uploaded for another conversation');
    return refOf(m);
  }

  /** Record that message (conversation, seq) carries the media; refused when GC got to it first. */
  async markReferenced(mediaId: string, conversation: string, seq: number): Promise<void> {
    if (!(await this.deps.store.markReferenced({ mediaId, conversation, seq }))) {
      throw new MediaError('invalid_argument', 'media_id: unknown or no longer available; upload again');
    }
  }

  /** The message is durable: record its reference, then release the send's pin (seq 0). */
  async settle(mediaId: string, conversation: string, seq: number): Promise<void> {
    await this.markReferenced(mediaId, conversation, seq);
    await this.deps.store.unreference({ mediaId, conversation, seq: 0 });
  }

  /** Retention trimmed `conversation` below `firstSeq`: the references there go. */
  async trimmed(conversation: string, firstSeq: number): Promise<void> {
    await this.deps.store.trimmedBelow(conversation, firstSeq);
  }

  /**
   * A short-lived GET URL for a member of a conversation whose messages carry the
   * media (the uploader may also fetch its own upload). Anyone else: forbidden, with
   * the same answer whether or not the media exists.
   */
  async downloadUrl(user: string, mediaId: string, conversation: string): Promise<{ url: string; expiresAt: number; mime: string; size: number; sha256: string }> {
    const forbidden = new MediaError('forbidden', 'no access to this media');
    if (!MEDIA_ID.test(mediaId)) throw forbidden;
    const m = await this.deps.store.getMedia(mediaId);
    if (!m || m.state !== 'complete') throw forbidden;
    if (!(await this.deps.isMember(user, conversation))) throw forbidden;
    const own = m.owner === user && m.conversation === conversation;
    if (!own && !(await this.deps.store.refs(mediaId)).some((r) => r.conversation === conversation)) throw forbidden;
    const expiresAt = this.now() + this.opts.urlTtlMs;
    const blob = await this.deps.store.getBlob(m.sha256);
    if (!blob || blob.state !== 'stored') throw new MediaError('unavailable', 'the media is being moved; retry');
    const presigned = await this.deps.blobs.signedGetUrl(blob.key, this.opts.urlTtlMs, {
      contentType: m.mime,
      disposition: `${dispositionFor(m.mime)}; filename="${mediaId}"`,
    });
    const url = presigned ?? `${this.opts.publicUrl}${filePath(mediaId)}?${this.deps.signer.query('get', mediaId, expiresAt)}`;
    return { url, expiresAt, mime: m.mime, size: m.size, sha256: m.sha256 };
  }

  private async get(mediaId: string): Promise<MediaRow> {
    if (!MEDIA_ID.test(mediaId)) throw new MediaError('invalid_argument', 'media_id: malformed');
    const m = await this.deps.store.getMedia(mediaId);
    if (!m) throw new MediaError('invalid_argument', 'media_id: unknown');
    return m;
  }
}

export function refOf(m: MediaRow): MediaReference {
  return { mediaId: m.mediaId, mime: m.mime, size: m.size, sha256: m.sha256, width: m.width, height: m.height, blurhash: m.blurhash };
}
