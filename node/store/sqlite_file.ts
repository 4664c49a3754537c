/**
 * Opening a SQLite file the way every durable store of the node does (messages:
 * ./sqlite_store.ts, media: node/media/media_store_sqlite.ts, push:
 * node/push/sqlite_push_store.ts), and applying its append-only migrations.
 */
import Database from 'better-sqlite3';

/**
 * The file in WAL mode with synchronous=FULL (in WAL, NORMAL may lose the last commits
 * on power loss, and what these stores hold must survive it) and a busy timeout (5 s:
 * the other connections to the file hold only short transactions); then `init` (schema,
 * migrations, more pragmas). The connection is closed again if any of it throws.
 */
export function openDurableSqlite(path: string, init: (db: Database.Database) => void, busyTimeoutMs = 5000): Database.Database {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(busyTimeoutMs))}`);
    init(db);
  } catch (e) {
    db.close();
    throw e;
  }
  return db;
}

/**
 * Bring the file to migrations.length with PRAGMA user_version: entry i takes version i
 * to i + 1, each in its own IMMEDIATE transaction with the version bump, so a crash
 * mid-migration leaves the previous version intact. A file newer than this build is
 * refused (`what` names the store in the message).
 */
export function applyMigrations(db: Database.Database, migrations: readonly string[], what: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > migrations.length) {
    throw new Error(`${what} schema version ${current} is newer than this build understands (${migrations.length}); refusing to open it with older code`);
  }
  for (let version = current; version < migrations.length; version++) {
    db.transaction(() => {
      db.exec(migrations[version]);
      // PRAGMA takes no bound parameters; version is a loop integer, not input.
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
}
