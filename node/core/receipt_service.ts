/**
 * Receipts and typing: devices' delivered/read cursors, the watermarks they move
 * (1:1 receipts pushed at once; group receipts aggregated per sender and flushed at
 * most once per interval per group, on a timer), who has received / read one group
 * message, and the ephemeral typing relay. Cursors are written behind through the
 * writer; pushes go out through the fan-out port.
 */
import { CatalogError } from '../../protocol/errors.js';
import type { Caller, ServiceLimits, Writer } from './chat_types.js';
import type { ConversationCache } from './conversations.js';
import { originOf, type FanoutPort } from './fanout_port.js';
import { GroupReceiptTracker } from './group_receipts.js';
import type { MemberReceiptsDetail } from './ops.js';
import type { MessageStore } from '../store/store.js';

export class ReceiptService {
  private readonly groupReceipts = new GroupReceiptTracker();
  /** Group receipt aggregates: one pending flush per conversation, at most one per interval. */
  private readonly receiptFlush = new Map<string, NodeJS.Timeout>();
  private readonly lastReceiptFlush = new Map<string, number>();

  constructor(
    private readonly convs: ConversationCache,
    private readonly store: Pick<MessageStore, 'readAfter'>,
    private readonly writer: Writer,
    private readonly fanout: FanoutPort,
    private readonly limits: ServiceLimits,
    private readonly now: () => number,
  ) {}

  /** Stop the flush timers (the chat child stops). */
  close(): void {
    for (const t of this.receiptFlush.values()) clearTimeout(t);
    this.receiptFlush.clear();
  }

  ack(caller: Caller, conversation: string, seq: number): Promise<void> {
    return this.moveCursor(caller, conversation, seq, 0);
  }

  read(caller: Caller, conversation: string, seq: number): Promise<void> {
    return this.moveCursor(caller, conversation, seq, seq);
  }

  /** A group message became durable: count its receipts for its sender's aggregate. */
  trackGroupMessage(conversation: string, sender: string, seq: number): void {
    this.groupReceipts.track(conversation, sender, seq);
  }

  private async moveCursor(caller: Caller, conversation: string, delivered: number, read: number): Promise<void> {
    const st = await this.convs.member(caller.user, conversation);
    // A device cannot acknowledge what does not exist yet: such a cursor is a client
    // bug (or a store that lost data), and accepting it would withhold live pushes up
    // to it, which the client would silently never get.
    const last = st.seq.committed;
    if (delivered > last || read > last) {
      throw new CatalogError('invalid_argument', `seq: ${Math.max(delivered, read)} is above the conversation's last seq ${last}`);
    }
    const { changed, receipts } = st.cursors.apply(caller.user, caller.device, delivered, read);
    if (!changed) return;
    // Cursors are persisted through the writer but not awaited: a lost cursor update
    // only means a device may be re-sent messages it has, which it dedups by seq.
    this.writer.submit({ kind: 'cursor', cursor: changed }, st.seq.epoch).catch(() => {});
    if (receipts.length === 0) return;
    if (st.conv.kind === 'group') {
      this.scheduleGroupReceipts(st.conv.id);
      return;
    }
    this.fanout.receipts(
      st.conv.members.map((m) => m.user),
      receipts,
      originOf(caller),
    );
  }

  /** Who of the members (other than its sender) has received / read message `seq`. */
  async memberReceipts(caller: Caller, conversation: string, seq: number): Promise<MemberReceiptsDetail> {
    const st = await this.convs.member(caller.user, conversation);
    if (!Number.isInteger(seq) || seq < st.firstSeq || seq > st.seq.committed) {
      throw new CatalogError('invalid_argument', `seq: must be a stored seq of the conversation (${st.firstSeq}..${st.seq.committed})`);
    }
    const [m] = await this.store.readAfter(conversation, seq - 1, 1);
    const sender = m && m.seq === seq ? m.sender : '';
    const delivered: string[] = [];
    const read: string[] = [];
    let members = 0;
    for (const { user } of st.conv.members) {
      if (user === sender) continue;
      members++;
      const w = st.cursors.watermark(user);
      if (Math.max(w.delivered, w.read) >= seq) delivered.push(user);
      if (w.read >= seq) read.push(user);
    }
    return { conversation, seq, delivered: delivered.sort(), read: read.sort(), members };
  }

  /** Ephemeral: relayed to the other members' online devices, never stored. */
  async typing(caller: Caller, conversation: string): Promise<void> {
    const st = await this.convs.member(caller.user, conversation);
    // Why 6 s: clients re-send typing every ~3-5 s while typing; two misses clear it.
    const untilMs = this.now() + (this.limits.typingTtlMs ?? 6_000);
    const others = st.conv.members.map((m) => m.user).filter((u) => u !== caller.user);
    this.fanout.push(others, { k: 'typing', conversation, user: caller.user, untilMs });
  }

  /** At most one aggregate flush per group per interval, however many cursors move. */
  scheduleGroupReceipts(conversation: string): void {
    if (this.receiptFlush.has(conversation)) return;
    // Why 250 ms: ticks feel live, and a 1,024-member group reading at once costs four
    // aggregate pushes per second per sender instead of one per reader.
    const interval = this.limits.groupReceiptIntervalMs ?? 250;
    const last = this.lastReceiptFlush.get(conversation) ?? -Infinity;
    const wait = Math.max(0, last + interval - this.now());
    const t = setTimeout(() => {
      this.receiptFlush.delete(conversation);
      this.lastReceiptFlush.set(conversation, this.now());
      this.flushGroupReceipts(conversation);
    }, wait);
    t.unref();
    this.receiptFlush.set(conversation, t);
  }

  private flushGroupReceipts(conversation: string): void {
    const st = this.convs.cached(conversation);
    if (!st) return;
    const members = st.conv.members.map((m) => m.user);
    for (const c of this.groupReceipts.changes(conversation, members, (u) => st.cursors.watermark(u))) {
      this.fanout.push([c.sender], { k: 'group_receipts' as const, conversation, members: c.members, counts: c.counts });
    }
  }
}
