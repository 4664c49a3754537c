/**
 * MediaStore on embedded SQLite (better-sqlite3): the single-node default, in its own
 * file (`media.sqlite` in the data dir) so its migrations never interleave with the
 * message store's. Two connections use it at once (the host's, for slots and
 * references, and the media listener thread's, for uploads and GC): WAL lets them
 * read concurrently, and every conditional write is one IMMEDIATE transaction, which
 * is what makes the dedup and GC races of media_store.ts exact here.
 */
import type Database from 'better-sqlite3';
import { applyMigrations, openDurableSqlite } from '../store/sqlite_file.js';
import type { BlobRow, Completion, MediaRef, MediaRow, MediaStore, NewSlot } from './media_store.js';

const MIGRATIONS: readonly string[] = [
  // v1
  `
  CREATE TABLE media (
    media_id        TEXT    NOT NULL PRIMARY KEY,
    owner           TEXT    NOT NULL,
    conversation    TEXT    NOT NULL,
    size            INTEGER NOT NULL CHECK (size >= 0),
    declared_mime   TEXT    NOT NULL,
    declared_sha256 TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('open', 'complete', 'gc')),
    "offset"        INTEGER NOT NULL DEFAULT 0,
    node            TEXT    NOT NULL,
    mime            TEXT    NOT NULL DEFAULT '',
    sha256          TEXT    NOT NULL DEFAULT '',
    width           INTEGER NOT NULL DEFAULT 0,
    height          INTEGER NOT NULL DEFAULT 0,
    completed_at    INTEGER NOT NULL DEFAULT 0,
    referenced      INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID, STRICT;

  CREATE TABLE blobs (
    sha256     TEXT    NOT NULL PRIMARY KEY,
    key        TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    mime       TEXT    NOT NULL,
    state      TEXT    NOT NULL CHECK (state IN ('stored', 'deleting')),
    created_at INTEGER NOT NULL,
    linked_at  INTEGER NOT NULL
  ) WITHOUT ROWID, STRICT;

  CREATE TABLE blob_media (
    sha256   TEXT NOT NULL,
    media_id TEXT NOT NULL,
    PRIMARY KEY (sha256, media_id)
  ) WITHOUT ROWID, STRICT;

  CREATE TABLE media_refs (
    media_id     TEXT    NOT NULL,
    conversation TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    PRIMARY KEY (media_id, conversation, seq)
  ) WITHOUT ROWID, STRICT;

  CREATE TABLE media_usage (
    user  TEXT    NOT NULL,
    day   TEXT    NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (user, day)
  ) WITHOUT ROWID, STRICT;
  `,
  // v2: references by conversation, for retention trimming (trimmedBelow).
  `
  CREATE INDEX media_refs_by_conversation ON media_refs (conversation, seq);
  `,
  // v3: blurhash placeholders (PNG).
  `
  ALTER TABLE media ADD COLUMN blurhash TEXT NOT NULL DEFAULT '';
  `,
];

interface Row {
  media_id: string;
  owner: string;
  conversation: string;
  size: number;
  declared_mime: string;
  declared_sha256: string;
  created_at: number;
  expires_at: number;
  state: MediaRow['state'];
  offset: number;
  node: string;
  mime: string;
  sha256: string;
  width: number;
  height: number;
  blurhash: string;
  completed_at: number;
  referenced: number;
}

interface BRow {
  sha256: string;
  key: string;
  size: number;
  mime: string;
  state: BlobRow['state'];
  created_at: number;
  linked_at: number;
}

const toMedia = (r: Row): MediaRow => ({
  mediaId: r.media_id,
  owner: r.owner,
  conversation: r.conversation,
  size: r.size,
  declaredMime: r.declared_mime,
  declaredSha256: r.declared_sha256,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  state: r.state,
  offset: r.offset,
  node: r.node,
  mime: r.mime,
  sha256: r.sha256,
  width: r.width,
  height: r.height,
  blurhash: r.blurhash,
  completedAt: r.completed_at,
  referenced: r.referenced === 1,
});

const toBlob = (r: BRow): BlobRow => ({ sha256: r.sha256, key: r.key, size: r.size, mime: r.mime, state: r.state, createdAt: r.created_at, linkedAt: r.linked_at });

export class SqliteMediaStore implements MediaStore {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private closed = false;

  constructor(readonly path: string) {
    // FULL like the message store: a completed upload's row must survive power loss as
    // surely as the message that references it. Two connections (host and media
    // thread) contend only for short transactions.
    this.db = openDurableSqlite(path, (db) => applyMigrations(db, MIGRATIONS, 'media store'));
  }

  private tx<T>(fn: () => T): T {
    if (this.closed) throw new Error('media store closed');
    return this.db.transaction(fn).immediate();
  }

  async createSlot(s: NewSlot, chargeDay: string): Promise<void> {
    this.tx(() => {
      this.db
        .prepare(
          `INSERT INTO media (media_id, owner, conversation, size, declared_mime, declared_sha256, created_at, expires_at, state, node)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', ?)`,
        )
        .run(s.mediaId, s.owner, s.conversation, s.size, s.declaredMime, s.declaredSha256, s.createdAt, s.expiresAt, s.node);
      this.addUsageStmt().run(s.owner, chargeDay, s.size);
    });
  }

  private addUsageStmt(): Database.Statement {
    return this.db.prepare('INSERT INTO media_usage (user, day, bytes) VALUES (?, ?, ?) ON CONFLICT (user, day) DO UPDATE SET bytes = bytes + excluded.bytes');
  }

  async getMedia(mediaId: string): Promise<MediaRow | null> {
    const r = this.db.prepare('SELECT * FROM media WHERE media_id = ?').get(mediaId) as Row | undefined;
    return r ? toMedia(r) : null;
  }

  async setOffset(mediaId: string, offset: number): Promise<boolean> {
    return this.tx(() => this.db.prepare(`UPDATE media SET "offset" = ? WHERE media_id = ? AND state = 'open'`).run(offset, mediaId).changes === 1);
  }

  async completeMedia(mediaId: string, c: Completion): Promise<boolean> {
    return this.tx(
      () =>
        this.db
          .prepare(`UPDATE media SET state = 'complete', sha256 = ?, mime = ?, width = ?, height = ?, blurhash = ?, completed_at = ? WHERE media_id = ? AND state = 'open'`)
          .run(c.sha256, c.mime, c.width, c.height, c.blurhash, c.completedAt, mediaId).changes === 1,
    );
  }

  async dropSlot(mediaId: string): Promise<boolean> {
    return this.tx(() => this.db.prepare(`DELETE FROM media WHERE media_id = ? AND state = 'open'`).run(mediaId).changes === 1);
  }

  async getBlob(sha256: string): Promise<BlobRow | null> {
    const r = this.db.prepare('SELECT * FROM blobs WHERE sha256 = ?').get(sha256) as BRow | undefined;
    return r ? toBlob(r) : null;
  }

  async insertBlob(b: Omit<BlobRow, 'state'>, mediaId: string): Promise<boolean> {
    return this.tx(() => {
      const ins = this.db
        .prepare(`INSERT INTO blobs (sha256, key, size, mime, state, created_at, linked_at) VALUES (?, ?, ?, ?, 'stored', ?, ?) ON CONFLICT (sha256) DO NOTHING`)
        .run(b.sha256, b.key, b.size, b.mime, b.createdAt, b.linkedAt);
      if (ins.changes !== 1) return false;
      this.db.prepare('INSERT INTO blob_media (sha256, media_id) VALUES (?, ?) ON CONFLICT DO NOTHING').run(b.sha256, mediaId);
      return true;
    });
  }

  async linkBlob(sha256: string, mediaId: string, now: number): Promise<boolean> {
    return this.tx(() => {
      const up = this.db.prepare(`UPDATE blobs SET linked_at = max(linked_at + 1, ?) WHERE sha256 = ? AND state = 'stored'`).run(now, sha256);
      if (up.changes !== 1) return false;
      this.db.prepare('INSERT INTO blob_media (sha256, media_id) VALUES (?, ?) ON CONFLICT DO NOTHING').run(sha256, mediaId);
      return true;
    });
  }

  async blobMedia(sha256: string): Promise<string[]> {
    return (this.db.prepare('SELECT media_id FROM blob_media WHERE sha256 = ? ORDER BY media_id').all(sha256) as Array<{ media_id: string }>).map((r) => r.media_id);
  }

  async unlinkBlob(sha256: string, mediaId: string): Promise<void> {
    this.tx(() => this.db.prepare('DELETE FROM blob_media WHERE sha256 = ? AND media_id = ?').run(sha256, mediaId));
  }

  async claimBlobForGc(sha256: string, seenLinkedAt: number): Promise<boolean> {
    return this.tx(() => {
      // No link may exist at the moment of the claim (checked in the same transaction).
      const linked = this.db.prepare('SELECT 1 FROM blob_media WHERE sha256 = ? LIMIT 1').get(sha256);
      if (linked) return false;
      return this.db.prepare(`UPDATE blobs SET state = 'deleting' WHERE sha256 = ? AND state = 'stored' AND linked_at = ?`).run(sha256, seenLinkedAt).changes === 1;
    });
  }

  async deleteBlob(sha256: string): Promise<void> {
    this.tx(() => this.db.prepare(`DELETE FROM blobs WHERE sha256 = ? AND state = 'deleting'`).run(sha256));
  }

  async markReferenced(ref: MediaRef): Promise<boolean> {
    return this.tx(() => {
      const up = this.db.prepare(`UPDATE media SET referenced = 1 WHERE media_id = ? AND state = 'complete'`).run(ref.mediaId);
      if (up.changes !== 1) return false;
      this.db.prepare('INSERT INTO media_refs (media_id, conversation, seq) VALUES (?, ?, ?) ON CONFLICT DO NOTHING').run(ref.mediaId, ref.conversation, ref.seq);
      return true;
    });
  }

  async unreference(ref: MediaRef): Promise<void> {
    this.tx(() => {
      this.db.prepare('DELETE FROM media_refs WHERE media_id = ? AND conversation = ? AND seq = ?').run(ref.mediaId, ref.conversation, ref.seq);
      const left = this.db.prepare('SELECT 1 FROM media_refs WHERE media_id = ? LIMIT 1').get(ref.mediaId);
      if (!left) this.db.prepare('UPDATE media SET referenced = 0 WHERE media_id = ?').run(ref.mediaId);
    });
  }

  async trimmedBelow(conversation: string, firstSeq: number): Promise<string[]> {
    return this.tx(() => {
      const ids = (
        this.db.prepare('SELECT DISTINCT media_id FROM media_refs WHERE conversation = ? AND seq > 0 AND seq < ?').all(conversation, firstSeq) as Array<{ media_id: string }>
      ).map((r) => r.media_id);
      this.db.prepare('DELETE FROM media_refs WHERE conversation = ? AND seq > 0 AND seq < ?').run(conversation, firstSeq);
      const left = this.db.prepare('SELECT 1 FROM media_refs WHERE media_id = ? LIMIT 1');
      const clear = this.db.prepare('UPDATE media SET referenced = 0 WHERE media_id = ?');
      for (const id of ids) if (!left.get(id)) clear.run(id);
      return ids;
    });
  }

  async refs(mediaId: string): Promise<MediaRef[]> {
    return (this.db.prepare('SELECT media_id, conversation, seq FROM media_refs WHERE media_id = ? ORDER BY conversation, seq').all(mediaId) as Array<{ media_id: string; conversation: string; seq: number }>).map(
      (r) => ({ mediaId: r.media_id, conversation: r.conversation, seq: r.seq }),
    );
  }

  async addUsage(user: string, day: string, bytes: number): Promise<void> {
    this.tx(() => this.addUsageStmt().run(user, day, bytes));
  }

  async getUsage(user: string, day: string): Promise<number> {
    const r = this.db.prepare('SELECT bytes FROM media_usage WHERE user = ? AND day = ?').get(user, day) as { bytes: number } | undefined;
    return r?.bytes ?? 0;
  }

  async scanMedia(after: string, limit: number): Promise<MediaRow[]> {
    return (this.db.prepare('SELECT * FROM media WHERE media_id > ? ORDER BY media_id LIMIT ?').all(after, limit) as Row[]).map(toMedia);
  }

  async scanBlobs(after: string, limit: number): Promise<BlobRow[]> {
    return (this.db.prepare('SELECT * FROM blobs WHERE sha256 > ? ORDER BY sha256 LIMIT ?').all(after, limit) as BRow[]).map(toBlob);
  }

  async claimMediaForGc(mediaId: string): Promise<boolean> {
    return this.tx(() => {
      const hasRef = this.db.prepare('SELECT 1 FROM media_refs WHERE media_id = ? LIMIT 1').get(mediaId);
      if (hasRef) return false;
      return this.db.prepare(`UPDATE media SET state = 'gc' WHERE media_id = ? AND state = 'complete' AND referenced = 0`).run(mediaId).changes === 1;
    });
  }

  async deleteMedia(mediaId: string): Promise<void> {
    this.tx(() => this.db.prepare(`DELETE FROM media WHERE media_id = ? AND state = 'gc'`).run(mediaId));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
