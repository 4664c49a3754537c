/**
 * The HTTP/1.1 client the FCM, Web Push and webhook providers share: one POST with a
 * deadline, over keep-alive agents (one per provider), returning status, headers and
 * body. A transport failure (refused, reset, timeout) rejects with HttpTransportError,
 * which providers map to a `retry` outcome with status 0.
 */
import http from 'node:http';
import https from 'node:https';

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export class HttpTransportError extends Error {
  override name = 'HttpTransportError';
}

/** Largest response body read; provider answers are small JSON, anything bigger is cut. */
const MAX_RESPONSE_BYTES = 64 * 1024;

export class HttpClient {
  private readonly httpAgent = new http.Agent({ keepAlive: true });
  private readonly httpsAgent: https.Agent;

  constructor(private readonly opts: { timeoutMs: number; ca?: string | Buffer }) {
    this.httpsAgent = new https.Agent({ keepAlive: true, ...(opts.ca !== undefined ? { ca: opts.ca } : {}) });
  }

  post(url: string, headers: Record<string, string>, body: string | Buffer): Promise<HttpResponse> {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const agent = u.protocol === 'https:' ? this.httpsAgent : this.httpAgent;
    const data = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    return new Promise((resolve, reject) => {
      const req = mod.request(u, { method: 'POST', agent, headers: { ...headers, 'content-length': String(data.length) } }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < MAX_RESPONSE_BYTES) chunks.push(c);
          size += c.length;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', (e) => reject(new HttpTransportError(e.message)));
      });
      req.setTimeout(this.opts.timeoutMs, () => req.destroy(new HttpTransportError(`no answer within ${this.opts.timeoutMs} ms`)));
      req.on('error', (e) => reject(e instanceof HttpTransportError ? e : new HttpTransportError((e as NodeJS.ErrnoException).code ?? e.message)));
      req.end(data);
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
