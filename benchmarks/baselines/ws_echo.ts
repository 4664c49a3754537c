/**
 * Baseline: a bare `ws` echo server, the plain-Node reference point next to uWS.
 * With SB_TLS_CERT and SB_TLS_KEY set it runs over `https.createServer` (wss), i.e.
 * Node's own TLS. Prints `ready <port>` once listening.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

const cert = process.env.SB_TLS_CERT;
const key = process.env.SB_TLS_KEY;
const server = cert && key ? https.createServer({ cert: readFileSync(cert), key: readFileSync(key) }) : http.createServer();
const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
server.listen(0, '127.0.0.1', () => {
  // Collect start-up garbage (the tsx loader) first, so the soak's RSS delta is the sockets'.
  (globalThis as { gc?: () => void }).gc?.();
  console.log(`ready ${(server.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => process.exit(0));
