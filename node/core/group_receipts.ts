/**
 * Aggregated group receipts: "delivered to N of M, read by K of M" for a sender's
 * messages, derived from the members' watermarks (CursorBook), never stored per
 * message. Pure: the service tells it which messages were sent and asks, at most once
 * per interval per conversation, which counts changed.
 */

/** Most recent messages per sender and conversation whose counts are tracked. */
export const TRACKED_PER_SENDER = 64;

export interface Watermarks {
  delivered: number;
  read: number;
}

interface SenderTrack {
  /** Ascending seqs not yet read by every member. */
  seqs: number[];
  /** seq -> counts last sent */
  sent: Map<number, { delivered: number; read: number }>;
}

export class GroupReceiptTracker {
  /** conversation -> sender -> track */
  private readonly convs = new Map<string, Map<string, SenderTrack>>();

  track(conversation: string, sender: string, seq: number): void {
    let bySender = this.convs.get(conversation);
    if (!bySender) this.convs.set(conversation, (bySender = new Map()));
    let t = bySender.get(sender);
    if (!t) bySender.set(sender, (t = { seqs: [], sent: new Map() }));
    t.seqs.push(seq);
    if (t.seqs.length > TRACKED_PER_SENDER) t.sent.delete(t.seqs.shift()!);
  }

  /**
   * For each tracked sender of the conversation, the counts that changed since the
   * last call, against the given members' watermarks. Messages read by every member
   * are reported one last time and then dropped.
   */
  changes(conversation: string, members: string[], marks: (user: string) => Watermarks): Array<{ sender: string; members: number; counts: Array<{ seq: number; delivered: number; read: number }> }> {
    const bySender = this.convs.get(conversation);
    if (!bySender) return [];
    const all = members.map(marks);
    const delivered = all.map((w) => Math.max(w.delivered, w.read)).sort((a, b) => a - b);
    const read = all.map((w) => w.read).sort((a, b) => a - b);
    const isMember = new Set(members);
    const out = [];
    for (const [sender, t] of bySender) {
      const own = isMember.has(sender) ? marks(sender) : null;
      const m = members.length - (own ? 1 : 0);
      const counts = [];
      const keep: number[] = [];
      for (const seq of t.seqs) {
        let d = atLeast(delivered, seq);
        let r = atLeast(read, seq);
        if (own && Math.max(own.delivered, own.read) >= seq) d--;
        if (own && own.read >= seq) r--;
        const prev = t.sent.get(seq);
        if (!prev || prev.delivered !== d || prev.read !== r) {
          counts.push({ seq, delivered: d, read: r });
          t.sent.set(seq, { delivered: d, read: r });
        }
        if (r >= m) t.sent.delete(seq);
        else keep.push(seq);
      }
      t.seqs = keep;
      if (keep.length === 0) bySender.delete(sender);
      if (counts.length) out.push({ sender, members: m, counts });
    }
    if (bySender.size === 0) this.convs.delete(conversation);
    return out;
  }

  forget(conversation: string): void {
    this.convs.delete(conversation);
  }
}

/** How many values of the ascending array are >= x. */
function atLeast(sorted: number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return sorted.length - lo;
}
