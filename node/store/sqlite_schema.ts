/**
 * SQLite schema and its migrations, versioned with `PRAGMA user_version`.
 *
 * The tables mirror the wide-column model (see ./types.ts): every table is WITHOUT
 * ROWID so rows are clustered by their primary key, the way a Cassandra partition is
 * clustered by its clustering columns. A page of one conversation's history is then
 * one contiguous B-tree range, not an index lookup plus a row fetch per message.
 * Tables are STRICT so a mistyped value fails the batch instead of being stored as a
 * surprise (SQLite otherwise stores '5' in an INTEGER column).
 *
 * Migrations are append-only: never edit a released entry, add a new one. Entry i
 * brings the database from version i to version i + 1.
 */
import type Database from 'better-sqlite3';
import { applyMigrations } from './sqlite_file.js';

export const MIGRATIONS: readonly string[] = [
  // v1: the initial model.
  `
  CREATE TABLE conversations (
    id         TEXT    NOT NULL PRIMARY KEY,
    kind       TEXT    NOT NULL CHECK (kind IN ('direct', 'group')),
    created_at INTEGER NOT NULL,
    subject    TEXT    NOT NULL,
    first_seq  INTEGER NOT NULL DEFAULT 1 CHECK (first_seq >= 1)
  ) WITHOUT ROWID, STRICT;

  CREATE TABLE members (
    conversation TEXT NOT NULL,
    user         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('member', 'admin')),
    PRIMARY KEY (conversation, user)
  ) WITHOUT ROWID, STRICT;

  CREATE TABLE user_conversations (
    user         TEXT NOT NULL,
    conversation TEXT NOT NULL,
    PRIMARY KEY (user, conversation)
  ) WITHOUT ROWID, STRICT;

  CREATE TABLE messages (
    conversation  TEXT    NOT NULL,
    seq           INTEGER NOT NULL CHECK (seq >= 1),
    message_id    TEXT    NOT NULL,
    sender        TEXT    NOT NULL,
    sender_device TEXT    NOT NULL,
    client_msg_id TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    meta          TEXT    NOT NULL CHECK (json_valid(meta)),
    server_ts     INTEGER NOT NULL,
    PRIMARY KEY (conversation, seq)
  ) WITHOUT ROWID, STRICT;

  CREATE TABLE dedup (
    conversation  TEXT    NOT NULL,
    sender        TEXT    NOT NULL,
    client_msg_id TEXT    NOT NULL,
    seq           INTEGER NOT NULL CHECK (seq >= 1),
    PRIMARY KEY (conversation, sender, client_msg_id)
  ) WITHOUT ROWID, STRICT;

  CREATE TABLE cursors (
    conversation TEXT    NOT NULL,
    user         TEXT    NOT NULL,
    device       TEXT    NOT NULL,
    delivered    INTEGER NOT NULL CHECK (delivered >= 0),
    read         INTEGER NOT NULL CHECK (read >= 0),
    PRIMARY KEY (conversation, user, device)
  ) WITHOUT ROWID, STRICT;
  `,
  // v2: groups (former members) and presence.
  `
  CREATE TABLE former_members (
    conversation TEXT    NOT NULL,
    user         TEXT    NOT NULL,
    until_seq    INTEGER NOT NULL CHECK (until_seq >= 0),
    PRIMARY KEY (conversation, user)
  ) WITHOUT ROWID, STRICT;

  CREATE TABLE presence (
    user           TEXT    NOT NULL PRIMARY KEY,
    last_seen      INTEGER NOT NULL DEFAULT 0 CHECK (last_seen >= 0),
    hide_last_seen INTEGER NOT NULL DEFAULT 0 CHECK (hide_last_seen IN (0, 1))
  ) WITHOUT ROWID, STRICT;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Bring the database to SCHEMA_VERSION. Safe to call on every open: applied
 * migrations are skipped, and each one runs in its own transaction together with the
 * version bump, so a crash mid-migration leaves the previous version intact.
 */
export function migrate(db: Database.Database): void {
  applyMigrations(db, MIGRATIONS, 'sqlite');
}
