/**
 * Where the SDK keeps a device's state (cursors, held messages, watermarks, outbox)
 * between runs. One snapshot per device; `save` resolves once the snapshot is durable
 * as far as the backend can tell, and the SDK waits for it before it acks a message
 * (so an ack never claims what a crash could lose) and before it sends an outbox entry
 * (so a reload cannot forget a message the server may already have).
 *
 * Backends: MemoryStorage (here), IndexedDbStorage (browser, storage_indexeddb.ts),
 * FileStorage (Node, storage_file.ts: kept out of the browser bundle).
 */
import type { PersistedState } from './types.js';

export interface SdkStorage {
  /** The last saved snapshot, or undefined for a new device. */
  load(): Promise<PersistedState | undefined>;
  save(state: PersistedState): Promise<void>;
}

/** Nothing survives the process; for tests and throwaway clients. */
export class MemoryStorage implements SdkStorage {
  private state: string | undefined;

  async load(): Promise<PersistedState | undefined> {
    return this.state === undefined ? undefined : (JSON.parse(this.state) as PersistedState);
  }

  async save(state: PersistedState): Promise<void> {
    // A copy, as a real backend would keep: later changes to the live objects must not leak in.
    this.state = JSON.stringify(state);
  }
}
