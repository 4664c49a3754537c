/**
 * The device's view of its conversations (PROTOCOL.md §6), pure: no sockets, no
 * timers. Messages are keyed by (conversation, seq), so a message seen twice (a push
 * and a page, a resend's duplicate ack) is held once; the cursor is the highest seq
 * held contiguously; watermarks only rise.
 */
import type { ConversationInfo, GroupCounts, PersistedState, StoredMessage, Tick } from './types.js';

/** Messages stored per conversation on the device; older ones are paged back with history. */
export const KEEP_MESSAGES = 500;

export class Conversation implements ConversationInfo {
  kind: ConversationInfo['kind'] = '';
  members: string[] = [];
  admins: string[] = [];
  subject = '';
  /** Seq of the system message the subject came from (0: from group_info or unknown). */
  subjectSeq = 0;
  cursor = 0;
  lastSeq = 0;
  firstSeq = 0;
  myRead = 0;
  /** The delivered watermark this device last sent (ack). */
  acked = 0;
  readonly messages = new Map<number, StoredMessage>();
  delivered: Record<string, number> = {};
  read: Record<string, number> = {};
  groupCounts: Record<string, GroupCounts> = {};

  constructor(readonly id: string) {}

  /** Add a message; false when (conversation, seq) is already held. Advances the cursor. */
  add(m: StoredMessage): boolean {
    if (this.messages.has(m.seq)) return false;
    this.messages.set(m.seq, m);
    if (m.seq > this.lastSeq) this.lastSeq = m.seq;
    this.advance();
    return true;
  }

  /**
   * Group facts carried by system messages (PROTOCOL.md §5.9): the kind, and the
   * subject, which list_conversations does not return. The newest change wins.
   */
  fromSystemMessage(m: StoredMessage): void {
    this.kind = 'group';
    const sys = m.meta.system;
    if ((sys === 'group_created' || sys === 'subject_changed') && m.seq >= this.subjectSeq) {
      this.subject = m.meta.subject ?? '';
      this.subjectSeq = m.seq;
    }
  }

  /** Move the cursor past every contiguously held seq. */
  advance(): void {
    while (this.messages.has(this.cursor + 1)) this.cursor++;
  }

  /** A seq above the cursor is held, so something in between is missing. */
  hasGap(): boolean {
    for (const seq of this.messages.keys()) if (seq > this.cursor + 1) return true;
    return false;
  }

  /** Drop everything held (resync_required): the next page rebuilds from first_seq. */
  reset(firstSeq: number): void {
    this.messages.clear();
    this.cursor = Math.max(0, firstSeq - 1);
    this.acked = Math.min(this.acked, this.cursor);
    this.firstSeq = firstSeq;
  }

  /** The server's last seq is below what we hold (it lost data): forget everything above it. */
  dropAbove(last: number): void {
    for (const seq of [...this.messages.keys()]) if (seq > last) this.messages.delete(seq);
    this.cursor = Math.min(this.cursor, last);
    this.acked = Math.min(this.acked, last);
    this.myRead = Math.min(this.myRead, last);
    this.lastSeq = last;
  }

  /**
   * What goes to storage: the newest KEEP_MESSAGES messages, plus any above the cursor
   * (a gap's far side, still needed). Memory keeps everything this run has seen or
   * paged in; the next run starts from the stored ones and pages older ones back.
   */
  kept(): StoredMessage[] {
    const all = this.sorted();
    if (all.length <= KEEP_MESSAGES) return all;
    const cut = all.length - KEEP_MESSAGES;
    return all.filter((m, i) => i >= cut || m.seq > this.cursor);
  }

  /** Raise a member's watermark; true if it moved. */
  raise(kind: 'delivered' | 'read', user: string, seq: number): boolean {
    const map = kind === 'delivered' ? this.delivered : this.read;
    if ((map[user] ?? 0) >= seq) return false;
    map[user] = seq;
    return true;
  }

  sorted(): StoredMessage[] {
    return [...this.messages.values()].sort((a, b) => a.seq - b.seq);
  }

  /** The ✓ state of your own message at `seq` (§6.3). */
  tick(seq: number, me: string): Tick {
    if (this.kind === 'group') {
      const c = this.groupCounts[String(seq)];
      if (c && c.members > 0 && c.read >= c.members) return 'read';
      if (c && c.members > 0 && c.delivered >= c.members) return 'delivered';
      return 'sent';
    }
    const peers = this.members.filter((u) => u !== me);
    if (peers.length === 0) return 'sent';
    // Read implies delivered: a read receipt may overtake the delivered one.
    if (peers.every((u) => (this.read[u] ?? 0) >= seq)) return 'read';
    if (peers.every((u) => Math.max(this.delivered[u] ?? 0, this.read[u] ?? 0) >= seq)) return 'delivered';
    return 'sent';
  }

  snapshot(): PersistedState['conversations'][number] {
    return {
      id: this.id,
      kind: this.kind,
      members: this.members,
      admins: this.admins,
      subject: this.subject,
      cursor: this.cursor,
      lastSeq: this.lastSeq,
      firstSeq: this.firstSeq,
      myRead: this.myRead,
      acked: this.acked,
      messages: this.kept(),
      delivered: this.delivered,
      read: this.read,
      groupCounts: this.groupCounts,
    };
  }

  static restore(s: PersistedState['conversations'][number]): Conversation {
    const c = new Conversation(s.id);
    Object.assign(c, {
      kind: s.kind,
      members: s.members,
      admins: s.admins ?? [],
      subject: s.subject,
      cursor: s.cursor,
      lastSeq: s.lastSeq,
      firstSeq: s.firstSeq,
      myRead: s.myRead,
      acked: s.acked,
      delivered: s.delivered,
      read: s.read,
      groupCounts: s.groupCounts ?? {},
    });
    for (const m of s.messages) c.messages.set(m.seq, m);
    return c;
  }
}
