/**
 * What one chaos device holds, and what it records seeing: messages by (conversation,
 * seq), deduplicated (a message at a seq already held is ignored; other content there
 * is recorded as an observation, i.e. a disagreement), and per conversation the
 * highest seq held contiguously (the sync cursor). Pure bookkeeping, no I/O; the
 * device (app_client.ts) feeds it sync pages, live pushes and its own acked sends.
 */
import type { Message } from '../../protocol/gen/client_pb.js';
import { contentKey, type History, type SeenEvent, type Via } from './history.js';

export class HeldMessages {
  private readonly held = new Map<string, Map<number, SeenEvent>>();
  /** Per conversation, the highest seq held contiguously. */
  readonly cursor = new Map<string, number>();

  constructor(
    /** `user/device`, as observations name the device. */
    private readonly device: string,
    private readonly history: History,
    /** The device's conversations: every held message's is added. */
    private readonly conversations: Set<string>,
  ) {}

  /** Record and hold a message; true when it was new to this device. */
  hold(m: Message, via: Via): boolean {
    const seq = Number(m.seq);
    const ev: SeenEvent = {
      conv: m.conversation,
      seq,
      messageId: m.messageId,
      sender: m.sender,
      clientMsgId: m.clientMsgId,
      body: m.body,
      system: !!m.meta.system,
      device: this.device,
      via,
      at: Date.now(),
    };
    this.conversations.add(m.conversation);
    let conv = this.held.get(m.conversation);
    if (!conv) this.held.set(m.conversation, (conv = new Map()));
    if (via === 'final') {
      this.history.seen.push(ev); // the whole view, for the checker
      return false;
    }
    const had = conv.get(seq);
    if (had) {
      // Own acked sends are held without an observation; anything else shown differently is one.
      if (contentKey(had) !== contentKey(ev)) this.history.seen.push(ev);
      return false;
    }
    conv.set(seq, ev);
    this.history.seen.push(ev);
    this.advance(m.conversation);
    return true;
  }

  advance(conv: string): void {
    const held = this.held.get(conv);
    let c = this.cursor.get(conv) ?? 0;
    while (held?.has(c + 1)) c++;
    this.cursor.set(conv, c);
  }

  /** An own send once acked (PROTOCOL.md §6): held at its seq (no observation), the cursor moves. */
  holdOwn(conv: string, seq: number, messageId: string, sender: string, clientMsgId: string, body: string): void {
    let m = this.held.get(conv);
    if (!m) this.held.set(conv, (m = new Map()));
    if (!m.has(seq)) {
      m.set(seq, { conv, seq, messageId, sender, clientMsgId, body, system: false, device: this.device, via: 'live', at: Date.now() });
      this.advance(conv);
    }
  }
}
