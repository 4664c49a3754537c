/**
 * The store package's front door: open the configured MessageStore, and the pieces
 * the node wires around it (BatchWriter, typed errors, model types).
 *
 * Only the embedded backend is opened here; the Cassandra one is added by the node's
 * wiring so this module does not pull the Cassandra driver into every process.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { MessageStore } from './store.js';
import { SqliteStore, type SqliteStoreOptions } from './sqlite_store.js';

export interface SqliteStoreConfig extends SqliteStoreOptions {
  kind: 'sqlite';
  /** Database file; its directory is created if missing. ':memory:' for tests. */
  path: string;
}

export type StoreConfig = SqliteStoreConfig;

export async function openStore(config: StoreConfig): Promise<MessageStore> {
  switch (config.kind) {
    case 'sqlite': {
      if (config.path !== ':memory:') mkdirSync(dirname(config.path), { recursive: true });
      return new SqliteStore(config.path, config);
    }
    default: {
      const unknown: never = config.kind;
      throw new Error(`openStore: unknown store kind ${JSON.stringify(unknown)}`);
    }
  }
}

export type { MessageStore } from './store.js';
export type * from './types.js';
export { SqliteStore, type SqliteStoreOptions } from './sqlite_store.js';
export {
  BatchWriter,
  type BatchSink,
  type BatchWriterOptions,
  type BatchWriterStats,
} from './batch_writer.js';
export { InvalidWriteError, OverloadedError, SeqTakenError, StoreUnavailableError, isStoreError, type StoreError } from './errors.js';
