/**
 * The `links` child of a node in a cell: a one_for_one supervisor whose children are
 * the peer links (one PeerLink per live peer), started and terminated as membership
 * changes (dynamic children). Changes for one peer apply in order; a restarted peer
 * comes back with a new address and its link is replaced. The node with the smaller
 * id dials.
 */
import { Supervisor, serviceChild, type ChildSpecInput, type Service, type StartFn } from '../../supervisor/index.js';
import type { LinkFrame } from '../../protocol/gen/cluster_pb.js';
import type { Config } from '../config.js';
import { PeerLink } from '../peers/peer_link.js';
import type { PeerDirectory } from '../peers/peer_server.js';
import type { MemberEvent, Membership } from './membership.js';

type Log = (level: string, msg: string, fields?: Record<string, unknown>) => void;

export interface PeerLinksDeps {
  self: string;
  links: Config['cluster']['links'];
  directory: PeerDirectory;
  /** The running membership service (links follow it). */
  membership(): Membership;
  /** The node lease's id, sent in the link handshake ('' while there is none). */
  leaseId(): string;
  onFrames(frames: LinkFrame[], peer: string): void;
  /** A peer's link went down or stopped: fail what waits on it. */
  linkDown(peer: string): void;
  log: Log;
}

export class PeerLinks {
  /** Per peer: the last start/stop of its link, so changes apply in order. */
  private readonly linkOps = new Map<string, Promise<void>>();

  constructor(private readonly d: PeerLinksDeps) {}

  child(): ChildSpecInput {
    return { id: 'links', type: 'supervisor', start: this.start() };
  }

  private start(): StartFn {
    return async (ctx) => {
      // Why 10 in 10 s: a flapping peer restarts its link often; the node must not give up over it.
      const sup = new Supervisor({ name: `${ctx.supervisor}/${ctx.childId}`, strategy: 'one_for_one', intensity: 10, periodMs: 10_000, clock: ctx.clock, parentReport: ctx.report, children: [] });
      await sup.start();
      const membership = this.d.membership();
      const onChange = (e: MemberEvent): void => {
        if (e.member.node === this.d.self) return;
        const id = `peer-${e.member.node}`;
        if (e.kind === 'down') {
          this.d.linkDown(e.member.node);
          this.serial(e.member.node, () => sup.terminateChild(id).then(() => sup.deleteChild(id)).catch(() => undefined));
          return;
        }
        this.serial(e.member.node, () => this.startLink(sup, e.member.node, e.member.peerAddr));
      };
      const off = membership.onChange(onChange);
      for (const m of membership.members()) if (m.node !== this.d.self) this.serial(m.node, () => this.startLink(sup, m.node, m.peerAddr));
      void sup.exited.finally(off);
      return { exited: sup.exited, requestStop: () => void sup.stop(), kill: () => sup.kill(), tree: () => sup.tree() };
    };
  }

  private serial(node: string, fn: () => Promise<void>): void {
    const next = (this.linkOps.get(node) ?? Promise.resolve()).then(fn, fn);
    this.linkOps.set(node, next);
    void next.finally(() => {
      if (this.linkOps.get(node) === next) this.linkOps.delete(node);
    });
  }

  private async startLink(sup: Supervisor, node: string, addr: string): Promise<void> {
    const id = `peer-${node}`;
    const l = this.d.links;
    // A restarted peer comes back with a new address: replace the old link.
    await sup.terminateChild(id).then(() => sup.deleteChild(id)).catch(() => undefined);
    await sup
      .startChild({
        id,
        restart: 'transient',
        shutdown: 3_000,
        start: serviceChild((): Service => {
          const link = new PeerLink({
            self: this.d.self,
            peer: node,
            // The node with the smaller id dials.
            dial: this.d.self < node ? addr : null,
            directory: this.d.directory,
            leaseId: () => this.d.leaseId(),
            onFrames: (frames, peer) => this.d.onFrames(frames, peer),
            maxQueuedBytes: l.maxQueuedBytes,
            maxBatchBytes: l.maxBatchBytes,
            heartbeatMs: l.heartbeatMs,
            deadAfterMs: l.deadAfterMs,
            log: (line) => this.d.log('info', line),
          });
          link.onState((s) => {
            if (s === 'down' || s === 'stopped') this.d.linkDown(node);
          });
          return link;
        }),
      })
      .catch((e) => this.d.log('warn', 'peer link not started', { peer: node, err: (e as Error).message }));
  }
}
