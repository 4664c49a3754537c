/**
 * Baseline: a bare `ws` echo server, the plain-Node reference point next to uWS.
 * Prints `ready <port>` once listening.
 */
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, clientTracking: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('listening', () => {
  const a = wss.address();
  // Collect start-up garbage (the tsx loader) first, so the soak's RSS delta is the sockets'.
  (globalThis as { gc?: () => void }).gc?.();
  console.log(`ready ${typeof a === 'string' || a === null ? a : a.port}`);
});
process.on('SIGTERM', () => process.exit(0));
