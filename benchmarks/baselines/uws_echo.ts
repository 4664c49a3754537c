/**
 * Baseline: a bare uWebSockets.js echo server (no auth, no protocol, no store). The
 * floor for memory per idle connection and the ceiling for echo throughput that the
 * Switchboard figures are compared against. With SB_TLS_CERT and SB_TLS_KEY set it is
 * an SSLApp (wss), the same TLS stack the node uses. Prints `ready <port>` once
 * listening.
 */
import uWS from 'uWebSockets.js';

const cert = process.env.SB_TLS_CERT;
const key = process.env.SB_TLS_KEY;
const app = cert && key ? uWS.SSLApp({ cert_file_name: cert, key_file_name: key }) : uWS.App();
app.ws('/*', {
  compression: uWS.DISABLED,
  maxPayloadLength: 64 * 1024,
  // Idle sockets are the point of the soak: never time them out.
  idleTimeout: 0,
  message: (ws, msg, isBinary) => {
    ws.send(msg, isBinary);
  },
});
app.listen('127.0.0.1', 0, (token) => {
  if (!token) {
    console.error('uws_echo: listen failed');
    process.exit(1);
  }
  // Collect start-up garbage (the tsx loader) first, so the soak's RSS delta is the sockets'.
  (globalThis as { gc?: () => void }).gc?.();
  console.log(`ready ${uWS.us_socket_local_port(token)}`);
});
process.on('SIGTERM', () => process.exit(0));
