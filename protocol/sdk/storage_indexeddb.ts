/**
 * SdkStorage in the browser's IndexedDB: one object store, one record per device
 * key. A save resolves when its transaction completes ('complete' fires once the
 * data is committed), so a reload right after a send still finds the outbox entry.
 * Typed structurally (the repo type-checks without the DOM library).
 */
import type { SdkStorage } from './storage.js';
import type { PersistedState } from './types.js';

interface IdbRequest<T> {
  result: T;
  error: unknown;
  onsuccess: (() => void) | null;
  onerror: (() => void) | null;
}
interface IdbOpenRequest extends IdbRequest<IdbDatabase> {
  onupgradeneeded: (() => void) | null;
}
interface IdbTransaction {
  objectStore(name: string): { get(key: string): IdbRequest<unknown>; put(value: unknown, key: string): IdbRequest<unknown> };
  oncomplete: (() => void) | null;
  onerror: (() => void) | null;
  onabort: (() => void) | null;
  error: unknown;
}
interface IdbDatabase {
  objectStoreNames: { contains(name: string): boolean };
  createObjectStore(name: string): unknown;
  transaction(store: string, mode: 'readonly' | 'readwrite'): IdbTransaction;
}
interface IdbFactory {
  open(name: string, version: number): IdbOpenRequest;
}

const STORE = 'state';

export class IndexedDbStorage implements SdkStorage {
  private db: Promise<IdbDatabase> | null = null;

  /** `key` names the device (e.g. `${user}/${device}`), so several can share one origin. */
  constructor(
    readonly key: string,
    readonly dbName = 'switchboard-sdk',
  ) {}

  private open(): Promise<IdbDatabase> {
    if (this.db) return this.db;
    const factory = (globalThis as { indexedDB?: IdbFactory }).indexedDB;
    if (!factory) return Promise.reject(new Error('IndexedDB is not available here'));
    this.db = new Promise((resolve, reject) => {
      const req = factory.open(this.dbName, 1);
      req.onupgradeneeded = () => {
        if (!req.result.objectStoreNames.contains(STORE)) req.result.createObjectStore(STORE);
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    return this.db;
  }

  async load(): Promise<PersistedState | undefined> {
    const db = await this.open();
    return new Promise((resolve, reject) => {
      const req = db.transaction(STORE, 'readonly').objectStore(STORE).get(this.key);
      req.onsuccess = () => resolve((req.result as PersistedState | undefined) ?? undefined);
      req.onerror = () => reject(req.error);
    });
  }

  async save(state: PersistedState): Promise<void> {
    const db = await this.open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, 'readwrite');
      tx.objectStore(STORE).put(state, this.key);
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
  }
}
