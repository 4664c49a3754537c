/**
 * Content sniffing from magic bytes (a small table of our own, no native deps) and
 * cheap image dimensions (PNG, GIF, JPEG, WebP headers). Pure: bytes in, facts out.
 *
 * The head passed in is the first SNIFF_BYTES of the upload: enough for every magic
 * number here and for a JPEG's SOF marker in all but files with huge EXIF blocks
 * (then the dimensions are 0, which the protocol allows).
 */

export const SNIFF_BYTES = 64 * 1024;

interface Magic {
  mime: string;
  /** Bytes at `at`; null entries match anything. */
  bytes: Array<number | null>;
  at?: number;
}

const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

const TABLE: Magic[] = [
  { mime: 'image/jpeg', bytes: [0xff, 0xd8, 0xff] },
  { mime: 'image/png', bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] },
  { mime: 'image/gif', bytes: ascii('GIF87a') },
  { mime: 'image/gif', bytes: ascii('GIF89a') },
  { mime: 'image/webp', bytes: [...ascii('RIFF'), null, null, null, null, ...ascii('WEBP')] },
  { mime: 'audio/wav', bytes: [...ascii('RIFF'), null, null, null, null, ...ascii('WAVE')] },
  { mime: 'image/bmp', bytes: ascii('BM') },
  { mime: 'image/heic', bytes: ascii('ftypheic'), at: 4 },
  { mime: 'image/heic', bytes: ascii('ftypheix'), at: 4 },
  { mime: 'image/avif', bytes: ascii('ftypavif'), at: 4 },
  { mime: 'video/quicktime', bytes: ascii('ftypqt  '), at: 4 },
  { mime: 'audio/mp4', bytes: ascii('ftypM4A '), at: 4 },
  { mime: 'video/3gpp', bytes: ascii('ftyp3gp'), at: 4 },
  // Any other ISO base media file (isom, mp41, mp42, avc1, ...) is MP4 video.
  { mime: 'video/mp4', bytes: ascii('ftyp'), at: 4 },
  { mime: 'video/webm', bytes: [0x1a, 0x45, 0xdf, 0xa3] },
  { mime: 'audio/ogg', bytes: ascii('OggS') },
  { mime: 'audio/mpeg', bytes: ascii('ID3') },
  { mime: 'audio/mpeg', bytes: [0xff, 0xfb] },
  { mime: 'audio/aac', bytes: [0xff, 0xf1] },
  { mime: 'audio/flac', bytes: ascii('fLaC') },
  { mime: 'application/pdf', bytes: ascii('%PDF-') },
  { mime: 'application/zip', bytes: [0x50, 0x4b, 0x03, 0x04] },
  { mime: 'application/gzip', bytes: [0x1f, 0x8b] },
];

/** Textual formats a browser would render or run; matched after leading whitespace / BOM. */
const TEXT_MARKERS: Array<{ mime: string; re: RegExp }> = [
  { mime: 'text/html', re: /^<!doctype html|^<html|^<head|^<body|^<script|^<iframe/i },
  { mime: 'image/svg+xml', re: /^(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*(<!doctype svg[^>]*>\s*)?<svg[\s>]/i },
  { mime: 'application/xml', re: /^<\?xml/i },
];

/** What the bytes are, by magic number; null when the table does not know them. */
export function sniff(head: Uint8Array): string | null {
  for (const m of TABLE) {
    const at = m.at ?? 0;
    if (head.length < at + m.bytes.length) continue;
    if (m.bytes.every((b, i) => b === null || head[at + i] === b)) return m.mime;
  }
  const text = Buffer.from(head.subarray(0, 1024)).toString('latin1').replace(/^\uFEFF|^\xEF\xBB\xBF/, '').trimStart();
  for (const t of TEXT_MARKERS) if (t.re.test(text)) return t.mime;
  return null;
}

/** Every mime the table can recognise: a declared type in here must be what the bytes are. */
export const SNIFFABLE: ReadonlySet<string> = new Set([...TABLE.map((m) => m.mime), ...TEXT_MARKERS.map((t) => t.mime)]);

/** Common aliases clients declare, to their canonical name. */
const ALIASES: Record<string, string> = {
  'image/jpg': 'image/jpeg',
  'image/pjpeg': 'image/jpeg',
  'audio/mp3': 'audio/mpeg',
  'audio/x-wav': 'audio/wav',
  'audio/wave': 'audio/wav',
  'application/x-pdf': 'application/pdf',
  'text/xml': 'application/xml',
  'application/x-zip-compressed': 'application/zip',
  'audio/x-m4a': 'audio/mp4',
  'image/heif': 'image/heic',
};

/** Lowercased, parameters dropped, aliases resolved. */
export function canonicalMime(m: string): string {
  const base = m.split(';')[0].trim().toLowerCase();
  return ALIASES[base] ?? base;
}

/**
 * Does what the bytes are agree with what the client declared? ISO media containers
 * share one magic (ftyp), so MP4 / QuickTime / M4A / 3GP are one family here.
 */
export function compatible(declared: string, sniffed: string): boolean {
  const d = canonicalMime(declared);
  if (d === sniffed) return true;
  const iso = new Set(['video/mp4', 'video/quicktime', 'audio/mp4', 'video/3gpp', 'audio/aac']);
  if (iso.has(d) && iso.has(sniffed)) return true;
  // XML that is SVG, a declared xml that turns out to be SVG: still XML.
  if (d === 'application/xml' && sniffed === 'image/svg+xml') return true;
  return false;
}

/** Types a browser could execute or render as a document on our origin: always served as attachments. */
const ACTIVE = /^(text\/html|application\/xhtml\+xml|image\/svg\+xml|application\/xml|text\/xml|text\/javascript|application\/javascript|application\/ecmascript|text\/ecmascript|application\/x-javascript|text\/css|application\/x-shockwave-flash|application\/pdf|text\/xsl|application\/octet-stream|multipart\/.*|message\/.*)$/;

/** Content-Disposition for a served type: inline only for passive media. */
export function dispositionFor(mime: string): 'inline' | 'attachment' {
  const m = canonicalMime(mime);
  if (ACTIVE.test(m)) return 'attachment';
  return /^(image|video|audio)\//.test(m) || m === 'text/plain' ? 'inline' : 'attachment';
}

/** Width and height from the header, 0x0 when unknown or not an image. */
export function imageSize(mime: string, b: Uint8Array): { width: number; height: number } {
  const none = { width: 0, height: 0 };
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  try {
    if (mime === 'image/png' && b.length >= 24) return { width: dv.getUint32(16), height: dv.getUint32(20) };
    if (mime === 'image/gif' && b.length >= 10) return { width: dv.getUint16(6, true), height: dv.getUint16(8, true) };
    if (mime === 'image/webp' && b.length >= 30) {
      const kind = String.fromCharCode(b[12], b[13], b[14], b[15]);
      if (kind === 'VP8 ') return { width: dv.getUint16(26, true) & 0x3fff, height: dv.getUint16(28, true) & 0x3fff };
      if (kind === 'VP8L') {
        const bits = dv.getUint32(21, true);
        return { width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 };
      }
      if (kind === 'VP8X') return { width: 1 + (b[24] | (b[25] << 8) | (b[26] << 16)), height: 1 + (b[27] | (b[28] << 8) | (b[29] << 16)) };
      return none;
    }
    if (mime === 'image/jpeg') return jpegSize(b, dv) ?? none;
  } catch {
    return none;
  }
  return none;
}

function jpegSize(b: Uint8Array, dv: DataView): { width: number; height: number } | null {
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return null;
    const marker = b[i + 1];
    if (marker === 0xff) {
      i++;
      continue;
    }
    const len = dv.getUint16(i + 2);
    // SOF0..SOF15 carry the frame size, except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: dv.getUint16(i + 5), width: dv.getUint16(i + 7) };
    }
    i += 2 + len;
  }
  return null;
}
