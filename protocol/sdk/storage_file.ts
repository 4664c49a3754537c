/**
 * SdkStorage in one JSON file (Node only: it imports node:fs, so the browser bundle
 * never includes it). Each save writes a temporary file, fsyncs it and renames it over
 * the old one, so a crash leaves either the old snapshot or the new one, never half.
 */
import { mkdirSync, openSync, fsyncSync, writeSync, closeSync, renameSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SdkStorage } from './storage.js';
import type { PersistedState } from './types.js';

export class FileStorage implements SdkStorage {
  constructor(readonly path: string) {}

  async load(): Promise<PersistedState | undefined> {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    const v = JSON.parse(text) as PersistedState;
    if (v.version !== 1) throw new Error(`${this.path}: unknown state version ${String(v.version)}`);
    return v;
  }

  async save(state: PersistedState): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(state));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
  }
}
