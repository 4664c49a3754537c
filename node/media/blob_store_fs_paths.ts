/**
 * How the filesystem blob store maps keys to paths, and lists them back in key order.
 *
 * Each `/`-separated segment of a (checked: ./blob_store_keys.ts) key becomes one path
 * component, percent-encoded except for `A-Z a-z 0-9 . _ -`, so no key can name `..`, a
 * hidden control character or a separator of its own. A blob's file is its last
 * segment plus `~` (`media/ab/cdef` is `media/ab/cdef~`); `~` is always encoded inside
 * a segment, so a blob's file never has the name of a directory: keys `a` and `a/b` can
 * both exist, as on S3.
 */
import { opendir, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { BlobKeyError } from './blob_store_errors.js';

/** Marks a blob's file; never produced by encodeSegment. */
export const BLOB_SUFFIX = '~';
/** Linux NAME_MAX is 255 bytes; one is for the suffix. */
const MAX_COMPONENT = 254;

const KEEP = /^[A-Za-z0-9._-]$/;

export function encodeSegment(seg: string): string {
  let out = '';
  for (const ch of seg) {
    if (KEEP.test(ch)) out += ch;
    else for (const b of Buffer.from(ch)) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function decodeSegment(name: string): string {
  return Buffer.from(name.replace(/%([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
}

/** The blob file of a checked key under `root`. */
export function keyToPath(root: string, key: string): string {
  const parts = key.split('/').map(encodeSegment);
  for (const p of parts) {
    if (Buffer.byteLength(p) > MAX_COMPONENT) throw new BlobKeyError(key, `a segment is longer than ${MAX_COMPONENT} bytes once encoded for the filesystem store`);
  }
  parts[parts.length - 1] += BLOB_SUFFIX;
  const p = path.join(root, ...parts);
  // Belt and braces: the key checks already make this impossible.
  if (!p.startsWith(root + path.sep)) throw new BlobKeyError(key, 'resolves outside the store');
  return p;
}

export interface FoundBlob {
  key: string;
  file: string;
}

/**
 * Every blob under `root` whose key starts with `prefix` (checked), in the byte order of
 * the keys' UTF-8, as S3 lists. The walk starts at the deepest directory the prefix
 * fully names and sorts each directory as it goes, so memory is one directory at a time.
 */
export async function* walkBlobs(root: string, prefix: string): AsyncGenerator<FoundBlob> {
  const segs = prefix.split('/');
  segs.pop();
  const base = segs.length ? `${segs.join('/')}/` : '';
  yield* walk(path.join(root, ...segs.map(encodeSegment)), base, prefix);
}

async function* walk(dir: string, base: string, prefix: string): AsyncGenerator<FoundBlob> {
  const entries: Array<{ sortKey: Buffer; name: string; isDir: boolean; key: string }> = [];
  let d;
  try {
    d = await opendir(dir);
  } catch (e) {
    if (isGone(e)) return;
    throw e;
  }
  for await (const ent of d) {
    if (ent.isDirectory()) {
      const key = `${base}${decodeSegment(ent.name)}/`;
      if (key.startsWith(prefix) || prefix.startsWith(key)) entries.push({ sortKey: Buffer.from(key), name: ent.name, isDir: true, key });
    } else if (ent.isFile() && ent.name.endsWith(BLOB_SUFFIX)) {
      const key = base + decodeSegment(ent.name.slice(0, -BLOB_SUFFIX.length));
      if (key.startsWith(prefix)) entries.push({ sortKey: Buffer.from(key), name: ent.name, isDir: false, key });
    }
  }
  entries.sort((a, b) => Buffer.compare(a.sortKey, b.sortKey));
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDir) yield* walk(p, e.key, prefix);
    else yield { key: e.key, file: p };
  }
}

export const isGone = (e: unknown): boolean => ['ENOENT', 'ENOTDIR'].includes((e as NodeJS.ErrnoException).code ?? '');

/** stat, or null when the file has gone (deleted while listing). */
export async function statOrNull(file: string): Promise<Stats | null> {
  try {
    return await stat(file);
  } catch (e) {
    if (isGone(e)) return null;
    throw e;
  }
}
