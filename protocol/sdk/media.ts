/**
 * Media bytes for the SDK (PROTOCOL.md §13): the upload to a slot's URL over tus 1.0
 * core (one PATCH; after a failed one, HEAD for the server's offset and continue from
 * there, since what arrived is kept), and the SHA-256 the slot declares so the server
 * checks the bytes end to end. fetch and WebCrypto only: runs in browsers and Node.
 */

/** How often an interrupted upload is resumed before the send gives up. */
export const UPLOAD_ATTEMPTS = 5;

export class UploadError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'UploadError';
  }
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

const TUS = { 'Tus-Resumable': '1.0.0' };

/**
 * Upload `bytes` to a slot URL. Resolves once the server has checked and stored them
 * (the final PATCH's 204). A refusal (size, hash or type mismatch, expired slot)
 * rejects with its status and catalog code and is not retried; a dropped link is.
 */
export async function uploadTus(url: string, bytes: Uint8Array, f: typeof fetch, wait: (ms: number) => Promise<void>): Promise<void> {
  let offset = 0;
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await f(url, {
        method: 'PATCH',
        headers: { ...TUS, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(offset) },
        body: bytes.subarray(offset) as Uint8Array<ArrayBuffer>,
      });
      if (r.status === 204) return;
      if (r.status !== 409) throw await refusal(r);
    } catch (e) {
      if (e instanceof UploadError || attempt + 1 >= UPLOAD_ATTEMPTS) throw e;
      await wait(500 * 2 ** attempt);
    }
    // Where did the server get to? Continue from there (409, or a dropped link).
    const h = await f(url, { method: 'HEAD', headers: TUS });
    if (h.status !== 200) throw await refusal(h);
    offset = Number(h.headers.get('Upload-Offset') ?? '0');
    if (offset >= bytes.length) return;
  }
}

async function refusal(r: Response): Promise<UploadError> {
  const body = (await r.json().catch(() => ({}))) as { code?: string; message?: string };
  return new UploadError(r.status, body.code ?? 'unavailable', `upload: HTTP ${r.status} ${body.message ?? ''}`.trim());
}
