/**
 * A TCP relay on loopback in front of a fake, for network faults a server cannot play
 * by itself: `freeze()` turns every open connection into a black hole (bytes in either
 * direction are dropped, the sockets stay open), like a half-open connection after a
 * NAT timeout or a network switch, where nothing answers, not even an HTTP/2 PING.
 */
import net from 'node:net';

export class TcpProxy {
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  private frozen = false;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  /** Relays 127.0.0.1:<new port> to 127.0.0.1:targetPort. */
  static async start(targetPort: number): Promise<TcpProxy> {
    let proxy: TcpProxy | null = null;
    const server = net.createServer((client) => {
      const upstream = net.connect(targetPort, '127.0.0.1');
      const pair: [net.Socket, net.Socket] = [client, upstream];
      proxy!.pairs.add(pair);
      client.on('data', (d) => {
        if (!proxy!.frozen) upstream.write(d);
      });
      upstream.on('data', (d) => {
        if (!proxy!.frozen) client.write(d);
      });
      const end = (): void => {
        client.destroy();
        upstream.destroy();
        proxy!.pairs.delete(pair);
      };
      client.on('close', end);
      upstream.on('close', end);
      client.on('error', end);
      upstream.on('error', end);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    proxy = new TcpProxy(server, (server.address() as net.AddressInfo).port);
    return proxy;
  }

  /** Drop every byte on open connections (true) or relay again (false). New connections relay normally only when not frozen. */
  freeze(frozen: boolean): void {
    this.frozen = frozen;
  }

  /** Open relayed connections. */
  get connections(): number {
    return this.pairs.size;
  }

  async close(): Promise<void> {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
