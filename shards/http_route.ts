/**
 * The HTTP side of a shard's port: every non-WebSocket request (the HTTP API, admin,
 * metrics, the web chat) is read whole, up to a body limit, and forwarded to the host,
 * whose answer is written back. uWS gives the request only inside this callback, so
 * what the host needs is copied out first.
 */
import type uWS from 'uWebSockets.js';
import type { HttpRequest, HttpResponse } from './messages.js';

/** Forward one request; bodies over `maxBody` bytes (max_frame_bytes) get 413. */
export function httpRoute(res: uWS.HttpResponse, req: uWS.HttpRequest, maxBody: number, forward: (req: HttpRequest) => Promise<HttpResponse>): void {
  const httpReq: HttpRequest = {
    method: req.getCaseSensitiveMethod ? req.getCaseSensitiveMethod() : req.getMethod().toUpperCase(),
    path: req.getUrl(),
    query: req.getQuery() ?? '',
    authorization: req.getHeader('authorization'),
    body: '',
  };
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  const chunks: Buffer[] = [];
  let size = 0;
  res.onData((chunk, isLast) => {
    if (aborted) return;
    size += chunk.byteLength;
    if (size > maxBody) {
      if (size - chunk.byteLength <= maxBody) {
        aborted = true;
        res.cork(() => res.writeStatus('413 Payload Too Large').writeHeader('content-type', 'application/json').end(JSON.stringify({ code: 'frame_too_large', message: `body over ${maxBody} bytes` }), true));
      }
      return;
    }
    chunks.push(Buffer.from(chunk.slice(0)));
    if (!isLast) return;
    httpReq.body = Buffer.concat(chunks).toString('utf8');
    forward(httpReq).then(
      (r) => {
        if (aborted) return;
        res.cork(() => {
          res.writeStatus(statusLine(r.status));
          // A handler may name its own content type (the web chat's HTML, JS, CSS).
          const headers = r.headers ?? {};
          res.writeHeader('content-type', headers['content-type'] ?? (r.text !== undefined ? 'text/plain; charset=utf-8' : 'application/json'));
          for (const [k, v] of Object.entries(headers)) if (k !== 'content-type') res.writeHeader(k, v);
          res.end(r.text !== undefined ? r.text : JSON.stringify(r.body));
        });
      },
      () => {
        if (aborted) return;
        res.cork(() => res.writeStatus('500 Internal Server Error').end());
      },
    );
  });
}

const STATUS: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'No Content',
  302: 'Found',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

function statusLine(code: number): string {
  return `${code} ${STATUS[code] ?? 'Status'}`;
}
