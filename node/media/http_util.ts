/** Small helpers for the media listener's node:http responses. */
import type { ServerResponse } from 'node:http';

/** An error as the HTTP API shapes it: JSON {code, message[, retry_after_ms]} (codes from protocol/codes.ts). */
export function sendError(res: ServerResponse, status: number, code: string, message: string, retryAfterMs = 0): void {
  if (res.headersSent || res.destroyed) return;
  const body: Record<string, unknown> = { code, message };
  if (retryAfterMs > 0) {
    body.retry_after_ms = retryAfterMs;
    res.setHeader('Retry-After', String(Math.ceil(retryAfterMs / 1000)));
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }).end(text);
}
