/**
 * MediaStore on Cassandra, in the message store's keyspace with tables of its own
 * (media_schema.ts). Every conditional write of the contract (media_store.ts) is a
 * lightweight transaction on one partition:
 *
 *  - media:        slot state open -> complete | (dropped), complete -> gc, `referenced`
 *  - media_blobs:  insert-if-absent per hash (dedup winner), linked_at compare-and-set
 *                  (every link bumps it), stored -> deleting (GC claim)
 *
 * Links (media_blob_links) and references (media_refs) are plain rows written after
 * the conditional write that allows them, and read back before a claim. Usage is a
 * counter table. The lifecycle scans page by token order (a full scan: fine for the
 * GC interval at this scale; MEDIA.md says what a bigger deployment changes).
 */
import type cassandra from 'cassandra-driver';
import type { BlobRow, Completion, MediaRef, MediaRow, MediaStore, NewSlot } from './media_store.js';

type Row = cassandra.types.Row;

const num = (v: unknown): number => (v === null || v === undefined ? 0 : typeof v === 'number' ? v : Number(v as { toString(): string }));

const toMedia = (r: Row): MediaRow => ({
  mediaId: r.get('media_id') as string,
  owner: r.get('owner') as string,
  conversation: r.get('conversation') as string,
  size: num(r.get('size')),
  declaredMime: r.get('declared_mime') as string,
  declaredSha256: (r.get('declared_sha256') as string | null) ?? '',
  createdAt: num(r.get('created_at')),
  expiresAt: num(r.get('expires_at')),
  state: r.get('state') as MediaRow['state'],
  offset: num(r.get('upload_offset')),
  node: r.get('node') as string,
  mime: (r.get('mime') as string | null) ?? '',
  sha256: (r.get('sha256') as string | null) ?? '',
  width: num(r.get('width')),
  height: num(r.get('height')),
  blurhash: (r.get('blurhash') as string | null) ?? '',
  completedAt: num(r.get('completed_at')),
  referenced: r.get('referenced') === true,
});

const toBlob = (r: Row): BlobRow => ({
  sha256: r.get('sha256') as string,
  key: r.get('blob_key') as string,
  size: num(r.get('size')),
  mime: r.get('mime') as string,
  state: r.get('state') as BlobRow['state'],
  createdAt: num(r.get('created_at')),
  linkedAt: num(r.get('linked_at')),
});

const MEDIA_COLS =
  'media_id, owner, conversation, size, declared_mime, declared_sha256, created_at, expires_at, state, upload_offset, node, mime, sha256, width, height, blurhash, completed_at, referenced';
const BLOB_COLS = 'sha256, blob_key, size, mime, state, created_at, linked_at';

export class CassandraMediaStore implements MediaStore {
  readonly kind = 'cassandra';

  constructor(
    private readonly client: cassandra.Client,
    private readonly ks: string,
    private readonly ownsClient = true,
  ) {}

  private exec(cql: string, params: unknown[] = []): Promise<cassandra.types.ResultSet> {
    return this.client.execute(cql.replaceAll('{ks}', this.ks), params, { prepare: true });
  }

  private async lwt(cql: string, params: unknown[]): Promise<boolean> {
    const rs = await this.exec(cql, params);
    return rs.wasApplied();
  }

  async createSlot(s: NewSlot, chargeDay: string): Promise<void> {
    // The counter first: a slot whose insert then fails gives the charge back (a counter cannot join the LWT).
    await this.addUsage(s.owner, chargeDay, s.size);
    const ok = await this.lwt(
      `INSERT INTO {ks}.media (media_id, owner, conversation, size, declared_mime, declared_sha256, created_at, expires_at, state, upload_offset, node, referenced)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', 0, ?, false) IF NOT EXISTS`,
      [s.mediaId, s.owner, s.conversation, s.size, s.declaredMime, s.declaredSha256, s.createdAt, s.expiresAt, s.node],
    );
    if (!ok) {
      await this.addUsage(s.owner, chargeDay, -s.size);
      throw new Error(`media ${s.mediaId} exists already`);
    }
  }

  async getMedia(mediaId: string): Promise<MediaRow | null> {
    const rs = await this.exec(`SELECT ${MEDIA_COLS} FROM {ks}.media WHERE media_id = ?`, [mediaId]);
    return rs.first() ? toMedia(rs.first()) : null;
  }

  setOffset(mediaId: string, offset: number): Promise<boolean> {
    return this.lwt(`UPDATE {ks}.media SET upload_offset = ? WHERE media_id = ? IF state = 'open'`, [offset, mediaId]);
  }

  completeMedia(mediaId: string, c: Completion): Promise<boolean> {
    return this.lwt(`UPDATE {ks}.media SET state = 'complete', sha256 = ?, mime = ?, width = ?, height = ?, blurhash = ?, completed_at = ? WHERE media_id = ? IF state = 'open'`, [
      c.sha256,
      c.mime,
      c.width,
      c.height,
      c.blurhash,
      c.completedAt,
      mediaId,
    ]);
  }

  dropSlot(mediaId: string): Promise<boolean> {
    return this.lwt(`DELETE FROM {ks}.media WHERE media_id = ? IF state = 'open'`, [mediaId]);
  }

  async getBlob(sha256: string): Promise<BlobRow | null> {
    const rs = await this.exec(`SELECT ${BLOB_COLS} FROM {ks}.media_blobs WHERE sha256 = ?`, [sha256]);
    return rs.first() ? toBlob(rs.first()) : null;
  }

  async insertBlob(b: Omit<BlobRow, 'state'>, mediaId: string): Promise<boolean> {
    const ok = await this.lwt(`INSERT INTO {ks}.media_blobs (${BLOB_COLS}) VALUES (?, ?, ?, ?, 'stored', ?, ?) IF NOT EXISTS`, [
      b.sha256,
      b.key,
      b.size,
      b.mime,
      b.createdAt,
      b.linkedAt,
    ]);
    if (ok) await this.exec('INSERT INTO {ks}.media_blob_links (sha256, media_id) VALUES (?, ?)', [b.sha256, mediaId]);
    return ok;
  }

  async linkBlob(sha256: string, mediaId: string, now: number): Promise<boolean> {
    // Compare-and-set on linked_at, so every link moves it (a GC claim conditional on
    // the value it saw then fails).
    for (let i = 0; i < 20; i++) {
      const b = await this.getBlob(sha256);
      if (!b || b.state !== 'stored') return false;
      const next = Math.max(b.linkedAt + 1, now);
      if (await this.lwt(`UPDATE {ks}.media_blobs SET linked_at = ? WHERE sha256 = ? IF state = 'stored' AND linked_at = ?`, [next, sha256, b.linkedAt])) {
        await this.exec('INSERT INTO {ks}.media_blob_links (sha256, media_id) VALUES (?, ?)', [sha256, mediaId]);
        return true;
      }
    }
    throw new Error(`linkBlob ${sha256}: too much contention`);
  }

  async blobMedia(sha256: string): Promise<string[]> {
    const rs = await this.exec('SELECT media_id FROM {ks}.media_blob_links WHERE sha256 = ?', [sha256]);
    return rs.rows.map((r) => r.get('media_id') as string);
  }

  async unlinkBlob(sha256: string, mediaId: string): Promise<void> {
    await this.exec('DELETE FROM {ks}.media_blob_links WHERE sha256 = ? AND media_id = ?', [sha256, mediaId]);
  }

  async claimBlobForGc(sha256: string, seenLinkedAt: number): Promise<boolean> {
    if ((await this.blobMedia(sha256)).length > 0) return false;
    return this.lwt(`UPDATE {ks}.media_blobs SET state = 'deleting' WHERE sha256 = ? IF state = 'stored' AND linked_at = ?`, [sha256, seenLinkedAt]);
  }

  async deleteBlob(sha256: string): Promise<void> {
    await this.exec(`DELETE FROM {ks}.media_blobs WHERE sha256 = ? IF state = 'deleting'`, [sha256]);
  }

  async markReferenced(ref: MediaRef): Promise<boolean> {
    // The reference row first: a GC claim that slips in between sees it and backs off.
    await this.exec('INSERT INTO {ks}.media_refs (media_id, conversation, seq) VALUES (?, ?, ?)', [ref.mediaId, ref.conversation, ref.seq]);
    await this.exec('INSERT INTO {ks}.media_refs_by_conversation (conversation, seq, media_id) VALUES (?, ?, ?)', [ref.conversation, ref.seq, ref.mediaId]);
    if (await this.lwt(`UPDATE {ks}.media SET referenced = true WHERE media_id = ? IF state = 'complete'`, [ref.mediaId])) return true;
    await this.dropRef(ref);
    return false;
  }

  private async dropRef(ref: MediaRef): Promise<void> {
    await this.exec('DELETE FROM {ks}.media_refs WHERE media_id = ? AND conversation = ? AND seq = ?', [ref.mediaId, ref.conversation, ref.seq]);
    await this.exec('DELETE FROM {ks}.media_refs_by_conversation WHERE conversation = ? AND seq = ? AND media_id = ?', [ref.conversation, ref.seq, ref.mediaId]);
  }

  async trimmedBelow(conversation: string, firstSeq: number): Promise<string[]> {
    const rs = await this.exec('SELECT seq, media_id FROM {ks}.media_refs_by_conversation WHERE conversation = ? AND seq > 0 AND seq < ?', [conversation, firstSeq]);
    const ids = new Set<string>();
    for (const r of rs.rows) {
      const mediaId = r.get('media_id') as string;
      ids.add(mediaId);
      await this.unreference({ mediaId, conversation, seq: num(r.get('seq')) });
    }
    return [...ids];
  }

  async unreference(ref: MediaRef): Promise<void> {
    await this.dropRef(ref);
    if ((await this.refs(ref.mediaId)).length === 0) {
      await this.lwt(`UPDATE {ks}.media SET referenced = false WHERE media_id = ? IF state = 'complete'`, [ref.mediaId]);
    }
  }

  async refs(mediaId: string): Promise<MediaRef[]> {
    const rs = await this.exec('SELECT media_id, conversation, seq FROM {ks}.media_refs WHERE media_id = ?', [mediaId]);
    return rs.rows.map((r) => ({ mediaId: r.get('media_id') as string, conversation: r.get('conversation') as string, seq: num(r.get('seq')) }));
  }

  async addUsage(user: string, day: string, bytes: number): Promise<void> {
    await this.exec('UPDATE {ks}.media_usage SET bytes = bytes + ? WHERE user_id = ? AND day = ?', [bytes, user, day]);
  }

  async getUsage(user: string, day: string): Promise<number> {
    const rs = await this.exec('SELECT bytes FROM {ks}.media_usage WHERE user_id = ? AND day = ?', [user, day]);
    return rs.first() ? num(rs.first().get('bytes')) : 0;
  }

  async scanMedia(after: string, limit: number): Promise<MediaRow[]> {
    const rs =
      after === ''
        ? await this.exec(`SELECT ${MEDIA_COLS} FROM {ks}.media LIMIT ?`, [limit])
        : await this.exec(`SELECT ${MEDIA_COLS} FROM {ks}.media WHERE token(media_id) > token(?) LIMIT ?`, [after, limit]);
    return rs.rows.map(toMedia);
  }

  async scanBlobs(after: string, limit: number): Promise<BlobRow[]> {
    const rs =
      after === ''
        ? await this.exec(`SELECT ${BLOB_COLS} FROM {ks}.media_blobs LIMIT ?`, [limit])
        : await this.exec(`SELECT ${BLOB_COLS} FROM {ks}.media_blobs WHERE token(sha256) > token(?) LIMIT ?`, [after, limit]);
    return rs.rows.map(toBlob);
  }

  async claimMediaForGc(mediaId: string): Promise<boolean> {
    if ((await this.refs(mediaId)).length > 0) return false;
    if (!(await this.lwt(`UPDATE {ks}.media SET state = 'gc' WHERE media_id = ? IF state = 'complete' AND referenced = false`, [mediaId]))) return false;
    // A markReferenced between our read and the claim wrote its row first: give way.
    if ((await this.refs(mediaId)).length > 0) {
      await this.lwt(`UPDATE {ks}.media SET state = 'complete', referenced = true WHERE media_id = ? IF state = 'gc'`, [mediaId]);
      return false;
    }
    return true;
  }

  async deleteMedia(mediaId: string): Promise<void> {
    await this.exec(`DELETE FROM {ks}.media WHERE media_id = ? IF state = 'gc'`, [mediaId]);
  }

  async close(): Promise<void> {
    if (this.ownsClient) await this.client.shutdown();
  }
}
