/**
 * Every shard listens on the same port (SO_REUSEPORT), and a restarted shard must get
 * the same one, so a configured port 0 is resolved to a free port once, up front.
 */
import { createServer } from 'node:net';

export async function resolvePort(host: string, port: number): Promise<number> {
  if (port !== 0) return port;
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
}
