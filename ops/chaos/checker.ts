/**
 * The history check of a chaos run: a pure function of what the clients recorded
 * (history.ts). "Stored" is what every member device got from its final full sync
 * (sync with no cursors, after the quiet period); each complete final view is checked
 * on its own, so one node serving a different view than another is caught too.
 *
 *   lost            acked messages not stored at their acked seq with their content
 *                   (message_id, sender, client_msg_id, body) in every final view
 *   seqAckedTwice   (conversation, seq) acked to two or more different messages
 *   ackMoved        messages whose acks disagree (two seqs or two message ids)
 *   duplicates      (conversation, sender, client_msg_id) stored at more than one seq
 *   disagreements   (conversation, seq) shown with different content to devices
 *                   (live pushes, sync pages, final syncs of every device)
 *   gaps            (conversation, seq) in 1..highest stored seq that a member
 *                   device's final view does not have
 *   unackedStored   stored messages whose sender never got an ack (fine: a send in
 *                   flight at a fault; the client's outbox would resend it)
 *   unverified      acked messages of a conversation no member device could sync in
 *                   full (the run could not check them: it fails as unverifiable)
 *
 * The first six are the bad counts: any of them above 0 fails the run.
 */
import { contentKey, type AckEvent, type History, type SeenEvent } from './history.js';

export interface CheckResult {
  sent: number;
  acked: number;
  lost: number;
  seqAckedTwice: number;
  ackMoved: number;
  duplicates: number;
  disagreements: number;
  gaps: number;
  unackedStored: number;
  /** Sends refused with a non-retryable error. */
  failed: number;
  /** Sends neither acked nor failed when the run stopped waiting. */
  unresolved: number;
  /** Devices whose final full sync did not complete (their view is not checked). */
  incompleteFinal: number;
  /** Acked messages of conversations no member device could sync in full: not checked (not counted as lost). */
  unverified: number;
  conversations: number;
  storedMessages: number;
  /** Up to 10 human-readable cases per count. */
  examples: Partial<Record<CountName, string[]>>;
}

export const BAD_COUNTS = ['lost', 'seqAckedTwice', 'ackMoved', 'duplicates', 'disagreements', 'gaps'] as const;
export type CountName = (typeof BAD_COUNTS)[number] | 'unackedStored' | 'failed' | 'unresolved' | 'incompleteFinal' | 'unverified';

export function badTotal(r: CheckResult): number {
  return BAD_COUNTS.reduce((s, k) => s + r[k], 0);
}

const MAX_EXAMPLES = 10;

function msgKey(conv: string, user: string, clientMsgId: string): string {
  return `${conv}\u0000${user}\u0000${clientMsgId}`;
}

type View = Map<number, SeenEvent>; // seq -> message, one conversation of one device

export function checkHistory(h: History): CheckResult {
  const examples: CheckResult['examples'] = {};
  const note = (k: CountName, s: string): void => {
    const list = (examples[k] ??= []);
    if (list.length < MAX_EXAMPLES) list.push(s);
  };

  const bodies = new Map(h.sent.map((s) => [msgKey(s.conv, s.user, s.clientMsgId), s.body]));

  // ---- acks ------------------------------------------------------------------------
  const acksOf = new Map<string, AckEvent[]>();
  for (const a of h.acks) {
    const k = msgKey(a.conv, a.user, a.clientMsgId);
    const list = acksOf.get(k);
    if (list) list.push(a);
    else acksOf.set(k, [a]);
  }
  let ackMoved = 0;
  for (const list of acksOf.values()) {
    const distinct = new Set(list.map((a) => `${a.seq}/${a.messageId}`));
    if (distinct.size > 1) {
      ackMoved++;
      const a = list[0];
      note('ackMoved', `${a.conv}: ${a.user}'s ${a.clientMsgId} acked as ${[...distinct].join(' and ')} (seq/message_id)`);
    }
  }
  const bySeq = new Map<string, Map<string, AckEvent>>();
  for (const a of h.acks) {
    const k = `${a.conv}\u0000${a.seq}`;
    let m = bySeq.get(k);
    if (!m) bySeq.set(k, (m = new Map()));
    if (!m.has(msgKey(a.conv, a.user, a.clientMsgId))) m.set(msgKey(a.conv, a.user, a.clientMsgId), a);
  }
  let seqAckedTwice = 0;
  for (const m of bySeq.values()) {
    if (m.size < 2) continue;
    seqAckedTwice++;
    const list = [...m.values()];
    note('seqAckedTwice', `${list[0].conv}@${list[0].seq} acked to ${list.length} messages: ${list.slice(0, 4).map((a) => `${a.user}/${a.clientMsgId} (via ${a.node || '?'}, duplicate=${a.duplicate})`).join(', ')}`);
  }

  // ---- final views -----------------------------------------------------------------
  const complete = new Set(h.finals.filter((f) => f.complete).map((f) => f.device));
  const incompleteFinal = h.finals.length - complete.size;
  for (const f of h.finals) if (!f.complete) note('incompleteFinal', `${f.device}: ${f.error ?? 'did not complete'}`);
  // device -> conv -> view
  const views = new Map<string, Map<string, View>>();
  for (const f of h.finals) if (f.complete) views.set(f.device, new Map(f.conversations.map((c) => [c, new Map()])));
  for (const s of h.seen) {
    if (s.via !== 'final') continue;
    const v = views.get(s.device);
    if (!v) continue;
    let conv = v.get(s.conv);
    if (!conv) v.set(s.conv, (conv = new Map()));
    if (!conv.has(s.seq)) conv.set(s.seq, s);
  }
  const viewsOfConv = new Map<string, Array<{ device: string; view: View }>>();
  for (const [device, convs] of views)
    for (const [conv, view] of convs) {
      const list = viewsOfConv.get(conv);
      if (list) list.push({ device, view });
      else viewsOfConv.set(conv, [{ device, view }]);
    }

  // lost: every ack of a message must be matched by every final view of its conversation
  let lost = 0;
  let unverified = 0;
  for (const list of acksOf.values()) {
    const a0 = list[0];
    const vs = viewsOfConv.get(a0.conv) ?? [];
    if (vs.length === 0) {
      unverified++;
      note('unverified', `${a0.conv}: ${a0.user}/${a0.clientMsgId}: no member device completed a final sync of the conversation`);
      continue;
    }
    let why = '';
    for (const a of list) {
      if (why) break;
      for (const { device, view } of vs) {
        const row = view.get(a.seq);
        if (!row) why = `${device} has no seq ${a.seq}`;
        else if (row.messageId !== a.messageId || row.clientMsgId !== a.clientMsgId || row.sender !== a.user)
          why = `${device} has ${row.sender}/${row.clientMsgId} (${row.messageId}) at seq ${a.seq}`;
        if (why) break;
      }
    }
    if (!why) {
      // Content: the body the client sent.
      const sentBody = bodies.get(msgKey(a0.conv, a0.user, a0.clientMsgId));
      for (const { device, view } of vs) {
        const row = view.get(a0.seq);
        if (row && sentBody !== undefined && row.body !== sentBody) {
          why = `${device} holds a different body at seq ${a0.seq}`;
          break;
        }
      }
    }
    if (why) {
      lost++;
      note('lost', `${a0.conv}: ${a0.user}/${a0.clientMsgId} acked at seq ${list.map((a) => a.seq).join(',')} (via ${a0.node || '?'}): ${why}`);
    }
  }

  // duplicates, gaps, unacked-but-stored, over the union of the complete views
  let duplicates = 0;
  let gaps = 0;
  let unackedStored = 0;
  let storedMessages = 0;
  for (const [conv, vs] of viewsOfConv) {
    let max = 0;
    const union = new Map<number, SeenEvent>();
    for (const { view } of vs)
      for (const [seq, m] of view) {
        max = Math.max(max, seq);
        if (!union.has(seq)) union.set(seq, m);
      }
    storedMessages += union.size;
    const seqsOf = new Map<string, Set<number>>();
    for (const { view } of vs)
      for (const m of view.values()) {
        if (m.system) continue;
        const k = `${m.sender}\u0000${m.clientMsgId}`;
        let s = seqsOf.get(k);
        if (!s) seqsOf.set(k, (s = new Set()));
        s.add(m.seq);
      }
    for (const [k, s] of seqsOf) {
      const [sender, cmid] = k.split('\u0000');
      if (s.size > 1) {
        duplicates++;
        note('duplicates', `${conv}: ${sender}/${cmid} stored at seqs ${[...s].sort((x, y) => x - y).join(',')}`);
      }
      if (!acksOf.has(msgKey(conv, sender, cmid))) {
        unackedStored++;
        note('unackedStored', `${conv}: ${sender}/${cmid} at seq ${[...s].join(',')}`);
      }
    }
    const missing = new Set<number>();
    const missingBy = new Map<number, string>();
    for (const { device, view } of vs)
      for (let seq = 1; seq <= max; seq++)
        if (!view.has(seq) && !missing.has(seq)) {
          missing.add(seq);
          missingBy.set(seq, device);
        }
    gaps += missing.size;
    for (const seq of [...missing].slice(0, 3)) note('gaps', `${conv}@${seq} (highest stored ${max}) missing from ${missingBy.get(seq)}'s final sync`);
  }

  // disagreements: every observation of a seq, by any device, any way
  const contents = new Map<string, Map<string, SeenEvent>>();
  for (const s of h.seen) {
    const k = `${s.conv}\u0000${s.seq}`;
    let m = contents.get(k);
    if (!m) contents.set(k, (m = new Map()));
    const ck = contentKey(s);
    if (!m.has(ck)) m.set(ck, s);
  }
  let disagreements = 0;
  for (const m of contents.values()) {
    if (m.size < 2) continue;
    disagreements++;
    const list = [...m.values()];
    note('disagreements', `${list[0].conv}@${list[0].seq}: ${list.slice(0, 3).map((s) => `${s.device} (${s.via}) saw ${s.sender}/${s.clientMsgId}`).join('; ')}`);
  }

  for (const f of h.failures) note('failed', `${f.conv}: ${f.user}/${f.clientMsgId}: ${f.error}`);
  // Given up on by the client, and no late ack either.
  const unresolved = h.unresolved.filter((u) => !acksOf.has(msgKey(u.conv, u.user, u.clientMsgId)));
  for (const u of unresolved.slice(0, MAX_EXAMPLES)) note('unresolved', `${u.conv}: ${u.user}/${u.device} ${u.clientMsgId}`);

  return {
    sent: h.sent.length,
    acked: acksOf.size,
    lost,
    seqAckedTwice,
    ackMoved,
    duplicates,
    disagreements,
    gaps,
    unackedStored,
    failed: h.failures.length,
    unresolved: unresolved.length,
    incompleteFinal,
    unverified,
    conversations: viewsOfConv.size,
    storedMessages,
    examples,
  };
}
