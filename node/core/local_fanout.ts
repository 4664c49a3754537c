/**
 * The fan-out port on one node: members' users resolved to their open connections
 * through the host's registry, handed to the outbox (one encoding per push, batched
 * per socket shard: node/host/outbox.ts). The cluster's port (node/cluster/fanout.ts)
 * wraps this one and adds the other nodes.
 */
import type { Outbox } from './chat_types.js';
import type { FanoutPort, Origin } from './fanout_port.js';
import type { MemberReceipt } from './ops.js';
import type { Push } from './pushes.js';
import type { ConnRef, ConnectionRegistry } from './registry.js';
import type { StoredMessage } from '../store/types.js';

export class LocalFanout implements FanoutPort {
  constructor(
    private readonly registry: ConnectionRegistry,
    private readonly outbox: Outbox,
  ) {}

  message(users: readonly string[], message: StoredMessage, from: Origin, t0: number): void {
    const to = this.connections(users, from);
    if (to.length) this.outbox.deliver(to, message, t0);
  }

  receipts(users: readonly string[], receipts: MemberReceipt[], from: Origin): void {
    const to = this.connections(users, from);
    if (to.length) this.outbox.receipts(to, receipts);
  }

  push(users: readonly string[], push: Push): void {
    const to = this.connections(users, null);
    if (to.length) this.outbox.push?.(to, push);
  }

  pushTo(conns: ConnRef[], push: Push): void {
    if (conns.length) this.outbox.push?.(conns, push);
  }

  /** One node: nobody else to tell (the presence service applied it here). */
  presenceSetting(): void {}

  /** The open connections of `users` on this node, without the one `from` came on. */
  connections(users: readonly string[], from: Origin | null): ConnRef[] {
    const skip = from?.conn ?? null;
    const to: ConnRef[] = [];
    for (const user of users) {
      for (const ref of this.registry.connectionsOf(user)) {
        if (skip && ref.shard === skip.shard && ref.conn === skip.conn) continue;
        to.push(ref);
      }
    }
    return to;
  }
}
