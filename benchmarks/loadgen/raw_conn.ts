/**
 * A bare WebSocket for the baseline servers (no auth, no protocol): open it and
 * optionally echo-loop over it. Kept apart from BenchConn so baselines pay nothing
 * for protobuf.
 */
import WebSocket from 'ws';

export function openRaw(url: string, localAddress: string, timeoutMs = 15_000, ca?: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { localAddress, perMessageDeflate: false, handshakeTimeout: timeoutMs, ...(ca ? { ca } : {}) });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}
