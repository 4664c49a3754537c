/**
 * MediaStore: the metadata of media (upload slots, blobs by content hash, message
 * references, per-user daily usage). The bytes live in a BlobStore (./blob_store.ts);
 * this is everything about them. Two implementations pass one conformance suite
 * (./media_store_conformance.ts): embedded SQLite (./media_store_sqlite.ts) and
 * Cassandra (./media_store_cassandra.ts).
 *
 * Concurrency contract (the two races that matter):
 *
 *  - Dedup: two uploads of the same bytes may complete at once. `insertBlob` is
 *    insert-if-absent, so exactly one wins; the loser deletes its own copy and
 *    `linkBlob`s to the winner's. Each upload writes under its own blob key, so no
 *    two writers ever share a key.
 *  - GC never deletes anything referenced: a blob is claimed with `claimBlobForGc`,
 *    conditional on the `linkedAt` the collector saw (any link in between bumps it, so
 *    the claim fails) and `linkBlob` is conditional on the blob being `stored` (a
 *    claimed blob refuses links: the uploader then stores its own copy). A media row
 *    is claimed with `claimMediaForGc` only while `referenced` is false, and
 *    `markReferenced` only succeeds on a `complete` row, so a send either sees its
 *    media referenced before the collector looks, or gets refused.
 */

export type MediaState = 'open' | 'complete' | 'gc';

/** One upload slot and, once complete, the media it became. */
export interface MediaRow {
  mediaId: string;
  owner: string;
  conversation: string;
  /** Declared by the client at slot creation. */
  size: number;
  declaredMime: string;
  /** Declared SHA-256 (lowercase hex) or '' when the client gave none. */
  declaredSha256: string;
  createdAt: number;
  /** An open slot past this is removed by GC with its bytes. */
  expiresAt: number;
  state: MediaState;
  /** Bytes received so far (tus Upload-Offset). */
  offset: number;
  /** The node whose media listener stages this upload's bytes. */
  node: string;
  /** After completion: the served type (sniffed, or the declared one where nothing is sniffed). */
  mime: string;
  /** After completion: the SHA-256 of the bytes (lowercase hex). */
  sha256: string;
  width: number;
  height: number;
  /** After completion: a blurhash for PNG images, '' otherwise. */
  blurhash: string;
  completedAt: number;
  /** True once a message references it (markReferenced); GC never touches it then. */
  referenced: boolean;
}

export type NewSlot = Pick<MediaRow, 'mediaId' | 'owner' | 'conversation' | 'size' | 'declaredMime' | 'declaredSha256' | 'createdAt' | 'expiresAt' | 'node'>;

export interface Completion {
  sha256: string;
  mime: string;
  width: number;
  height: number;
  blurhash: string;
  completedAt: number;
}

export type BlobState = 'stored' | 'deleting';

export interface BlobRow {
  sha256: string;
  /** Key in the BlobStore. */
  key: string;
  size: number;
  mime: string;
  state: BlobState;
  createdAt: number;
  /** Last time an upload was linked to it (dedup hit or first store); the GC grace runs from here. */
  linkedAt: number;
}

export interface MediaRef {
  mediaId: string;
  conversation: string;
  seq: number;
}

export interface MediaStore {
  readonly kind: string;

  // ---- slots and media
  /**
   * Create an open slot and charge its size to the owner's usage of `chargeDay` (one
   * write where the backend allows: one transaction on SQLite). A media_id is random;
   * creating one twice is a bug and rejects.
   */
  createSlot(slot: NewSlot, chargeDay: string): Promise<void>;
  getMedia(mediaId: string): Promise<MediaRow | null>;
  /** Record the staged offset of an open slot; false if the slot is no longer open. */
  setOffset(mediaId: string, offset: number): Promise<boolean>;
  /** open -> complete with what the bytes turned out to be; false if it was not open. */
  completeMedia(mediaId: string, c: Completion): Promise<boolean>;
  /** Remove an open slot (a failed upload or an expired one); false if it was not open. */
  dropSlot(mediaId: string): Promise<boolean>;

  // ---- blobs (content-hash dedup)
  getBlob(sha256: string): Promise<BlobRow | null>;
  /** Insert if no blob has this hash; true when this call created it (with `mediaId` linked). */
  insertBlob(blob: Omit<BlobRow, 'state'>, mediaId: string): Promise<boolean>;
  /** Link another media to a stored blob and bump linkedAt; false unless the blob is `stored`. */
  linkBlob(sha256: string, mediaId: string, now: number): Promise<boolean>;
  /** Media ids linked to a blob. */
  blobMedia(sha256: string): Promise<string[]>;
  /** Remove one media's link to a blob (the media row is being collected). */
  unlinkBlob(sha256: string, mediaId: string): Promise<void>;
  /** stored -> deleting, only if linkedAt is still `seenLinkedAt`. */
  claimBlobForGc(sha256: string, seenLinkedAt: number): Promise<boolean>;
  /** Forget a blob row in state `deleting` (its bytes are gone). */
  deleteBlob(sha256: string): Promise<void>;

  // ---- references
  /** Record that message (conversation, seq) carries the media; false unless the media is complete. */
  markReferenced(ref: MediaRef): Promise<boolean>;
  /** Drop one reference (retention trimmed or deleted the message); clears `referenced` when none is left. */
  unreference(ref: MediaRef): Promise<void>;
  refs(mediaId: string): Promise<MediaRef[]>;
  /**
   * Retention trimmed `conversation` below `firstSeq`: drop its references with
   * 0 < seq < firstSeq (pins, seq 0, stay) and clear `referenced` where none is left.
   * Returns the media ids that lost a reference.
   */
  trimmedBelow(conversation: string, firstSeq: number): Promise<string[]>;

  // ---- quota
  /** Add (or, negative, give back) bytes to a user's usage of one UTC day ('YYYY-MM-DD'). */
  addUsage(user: string, day: string, bytes: number): Promise<void>;
  getUsage(user: string, day: string): Promise<number>;

  // ---- lifecycle scans (GC). Pages in an unspecified but stable order; pass the last id back.
  scanMedia(after: string, limit: number): Promise<MediaRow[]>;
  scanBlobs(after: string, limit: number): Promise<BlobRow[]>;
  /** complete -> gc, only while unreferenced. */
  claimMediaForGc(mediaId: string): Promise<boolean>;
  /** Forget a media row in state gc (and its references table entries, which are none). */
  deleteMedia(mediaId: string): Promise<void>;

  close(): Promise<void>;
}
