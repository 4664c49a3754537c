/**
 * Receipts as watermarks. Each device of each member has a delivered and a read
 * cursor; a member's watermark is the max over its devices (a message counts as
 * delivered to a user once any of their devices has it). Pure: the service feeds
 * device cursor updates in and gets back the member watermarks that moved.
 */
import type { DeviceCursor } from '../store/types.js';
import type { MemberReceipt } from './ops.js';



export class CursorBook {
  /** device key "user\u0000device" -> cursor */
  private readonly devices = new Map<string, DeviceCursor>();
  private readonly members = new Map<string, { delivered: number; read: number }>();

  constructor(readonly conversation: string, cursors: DeviceCursor[] = []) {
    for (const c of cursors) this.apply(c.user, c.device, c.delivered, c.read);
  }

  /**
   * Move a device's cursors forward (never back). Read implies delivered. Returns
   * the device cursor if it changed (to persist), and the member receipts that moved.
   */
  apply(user: string, device: string, delivered: number, read: number): { changed: DeviceCursor | null; receipts: MemberReceipt[] } {
    delivered = Math.max(delivered, read);
    const key = `${user}\u0000${device}`;
    const cur = this.devices.get(key) ?? { conversation: this.conversation, user, device, delivered: 0, read: 0 };
    if (delivered <= cur.delivered && read <= cur.read) return { changed: null, receipts: [] };
    const next: DeviceCursor = { ...cur, delivered: Math.max(cur.delivered, delivered), read: Math.max(cur.read, read) };
    this.devices.set(key, next);
    const m = this.members.get(user) ?? { delivered: 0, read: 0 };
    const receipts: MemberReceipt[] = [];
    if (next.delivered > m.delivered) {
      m.delivered = next.delivered;
      receipts.push({ conversation: this.conversation, user, kind: 'delivered', seq: m.delivered });
    }
    if (next.read > m.read) {
      m.read = next.read;
      receipts.push({ conversation: this.conversation, user, kind: 'read', seq: m.read });
    }
    this.members.set(user, m);
    return { changed: next, receipts };
  }

  /** Every member's current watermarks (for a syncing device). */
  memberReceipts(): MemberReceipt[] {
    const out: MemberReceipt[] = [];
    for (const [user, m] of this.members) {
      if (m.delivered > 0) out.push({ conversation: this.conversation, user, kind: 'delivered', seq: m.delivered });
      if (m.read > 0) out.push({ conversation: this.conversation, user, kind: 'read', seq: m.read });
    }
    return out;
  }

  /** A member's watermarks (0/0 when it has acked nothing). */
  watermark(user: string): { delivered: number; read: number } {
    return this.members.get(user) ?? { delivered: 0, read: 0 };
  }

  device(user: string, device: string): DeviceCursor | undefined {
    return this.devices.get(`${user}\u0000${device}`);
  }
}
