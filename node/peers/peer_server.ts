/**
 * PeerServer: the gRPC server of the cluster links. A peer dials it and opens one
 * ClusterLink.Link stream whose first frame is a Hello naming the peer; the server
 * hands the stream to that peer's PeerLink (found in the PeerDirectory) or, when no
 * link for that peer runs here (membership has not seen it yet), closes the stream
 * and the peer redials with backoff.
 *
 * A Service for the supervisor: start binds (port 0 = any free port, see `port`),
 * stop drains (tryShutdown) within the deadline, then forces.
 */
import { Server, ServerCredentials, status, type ServerDuplexStream } from '@grpc/grpc-js';
import type { LinkBatch } from '../../protocol/gen/cluster_pb.js';
import type { Service } from '../../supervisor/service_child.js';
import type { PeerLink } from './peer_link.js';
import { PeerDirectory as Directory } from './peer_directory.js';

/** This node's links by peer (the server hands each incoming stream to its peer's link). */
export class PeerDirectory extends Directory<PeerLink> {}
import { SERVER_OPTIONS, linkService, type OutBatch } from './wire.js';

/** Peer id -> its running link on this node. Links are added and removed by their owner. */
export interface PeerServerOptions {
  /** host:port to bind; port 0 picks a free one. Loopback or a private interface. */
  bind: string;
  directory: PeerDirectory;
  /** A stream whose first batch does not arrive within this long is closed. 5000 ms. */
  helloTimeoutMs?: number;
  log?: (line: string) => void;
}

export class PeerServer implements Service {
  private server: Server | null = null;
  private boundPort = 0;
  /** Streams closed because no link for their peer runs here. */
  refused = 0;

  constructor(private readonly opts: PeerServerOptions) {}

  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    const server = new Server(SERVER_OPTIONS);
    server.addService(linkService, { Link: (call: ServerDuplexStream<LinkBatch, OutBatch>) => this.accept(call) });
    this.boundPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync(this.opts.bind, ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
    this.server = server;
  }

  async stop(deadlineMs = 2_000): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, deadlineMs);
      server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** Drop every connection at once (a crash, for tests). */
  kill(): void {
    this.server?.forceShutdown();
    this.server = null;
  }

  private accept(call: ServerDuplexStream<LinkBatch, OutBatch>): void {
    const timer = setTimeout(() => call.destroy(), this.opts.helloTimeoutMs ?? 5_000);
    call.on('error', () => undefined);
    call.once('data', (first: LinkBatch) => {
      clearTimeout(timer);
      const hello = first.frames[0]?.kind;
      const link = hello?.case === 'hello' ? this.opts.directory.get(hello.value.nodeId) : undefined;
      if (!link) {
        this.refused++;
        this.opts.log?.(`refusing link from ${hello?.case === 'hello' ? hello.value.nodeId : '(no hello)'}: no link for it here`);
        call.emit('error', { code: status.FAILED_PRECONDITION, details: 'no link for this peer here' });
        return;
      }
      link.attach(call, first);
    });
  }
}
