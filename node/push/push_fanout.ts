/**
 * The fan-out port with push notifications hung off it: every durable message goes to
 * the inner port (sockets here and, in a cell, on other nodes) and then to the push
 * outbox, which decides which devices with no live connection get a push. The host
 * wraps its port with this one only where messages are committed (the conversation's
 * owner); deliveries forwarded by other nodes never pass here.
 */
import type { FanoutPort, Origin } from '../core/fanout_port.js';
import type { MemberReceipt } from '../core/ops.js';
import type { Push } from '../core/pushes.js';
import type { ConnRef } from '../core/registry.js';
import type { StoredMessage } from '../store/types.js';

export interface CommittedSink {
  committed(message: StoredMessage, members: readonly string[]): void;
}

export class PushFanout implements FanoutPort {
  constructor(
    private readonly inner: FanoutPort,
    /** The running push service, or null while it (re)starts: its recovery finds the owed rows. */
    private readonly sink: () => CommittedSink | null,
  ) {}

  message(users: readonly string[], message: StoredMessage, from: Origin, t0: number): void {
    this.inner.message(users, message, from, t0);
    try {
      this.sink()?.committed(message, users);
    } catch {
      // Never throws into the core: the owed row is durable, the rescan plans it.
    }
  }

  receipts(users: readonly string[], receipts: MemberReceipt[], from: Origin): void {
    this.inner.receipts(users, receipts, from);
  }

  push(users: readonly string[], push: Push): void {
    this.inner.push(users, push);
  }

  pushTo(conns: ConnRef[], push: Push): void {
    this.inner.pushTo(conns, push);
  }

  presenceSetting(user: string, hidden: boolean): void {
    this.inner.presenceSetting(user, hidden);
  }
}
