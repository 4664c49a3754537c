/**
 * `trace`: where a message or a conversation is, read from the message store (any node
 * of a cell reads the same store) plus who owns the conversation right now.
 *
 * A message is named by its conversation and seq, or by its message id (a UUIDv7:
 * found by reading the conversation newest first until ids are older than it; ids
 * sort by time). Which devices have it comes from the stored device cursors
 * (delivered / read watermarks: a device has every seq up to its delivered cursor);
 * the sender's receipts are the same cursors seen from the other members. The body is
 * never shown, only its size: operators trace delivery, not content.
 */
import type { MessageStore } from '../store/store.js';
import type { DeviceCursor, StoredMessage } from '../store/types.js';
import { NotFound } from './admin_routes.js';

/** The owner of a conversation's shard: node and fencing epoch (null epoch on a single node). */
export interface OwnerInfo {
  shard: number | null;
  node: string | null;
  epoch: number | null;
}

/** Past this many messages a search by message id gives up (the id is too old or in another conversation). */
export const MAX_SCAN = 20_000;
const PAGE = 500;

export async function traceConversation(store: MessageStore, conversation: string, owner: OwnerInfo): Promise<unknown> {
  const conv = await store.getConversation(conversation);
  if (!conv) throw new NotFound(`no conversation ${conversation}`);
  const [lastSeq, firstSeq, cursors] = await Promise.all([store.lastSeq(conversation), store.firstSeq(conversation), store.getCursors(conversation)]);
  return {
    conversation,
    kind: conv.kind,
    members: conv.members.map((m) => ({ user: m.user, role: m.role })),
    last_seq: lastSeq,
    first_seq: firstSeq,
    owner,
    cursors: cursors.map((c) => ({ user: c.user, device: c.device, delivered: c.delivered, read: c.read, behind: lastSeq - c.delivered })),
  };
}

export async function traceMessage(store: MessageStore, conversation: string, ref: { seq: number } | { message: string }, owner: OwnerInfo): Promise<unknown> {
  const conv = await store.getConversation(conversation);
  if (!conv) throw new NotFound(`no conversation ${conversation}`);
  const m = 'seq' in ref ? ((await store.readAfter(conversation, ref.seq - 1, 1))[0] ?? null) : await findById(store, conversation, ref.message);
  if (!m || ('seq' in ref && m.seq !== ref.seq)) {
    throw new NotFound('seq' in ref ? `no message at seq ${ref.seq} in ${conversation} (trimmed, or not written yet)` : `no message ${ref.message} in the last ${MAX_SCAN} of ${conversation}`);
  }
  const cursors = await store.getCursors(conversation);
  const devices = cursors.map((c) => deviceState(c, m));
  const others = devices.filter((d) => d.user !== m.sender);
  return {
    message: {
      conversation: m.conversation,
      seq: m.seq,
      message_id: m.messageId,
      sender: m.sender,
      sender_device: m.senderDevice,
      client_msg_id: m.clientMsgId,
      server_ts: m.serverTs,
      body_bytes: Buffer.byteLength(m.body),
    },
    stored: true,
    owner,
    members: conv.members.map((x) => x.user),
    devices,
    receipts: {
      delivered_to: [...new Set(others.filter((d) => d.delivered).map((d) => d.user))].sort(),
      read_by: [...new Set(others.filter((d) => d.read).map((d) => d.user))].sort(),
      // Members no device of whom has acknowledged it yet (offline, or not synced since).
      pending: conv.members.map((x) => x.user).filter((u) => u !== m.sender && !others.some((d) => d.user === u && d.delivered)).sort(),
    },
  };
}

function deviceState(c: DeviceCursor, m: StoredMessage): { user: string; device: string; delivered: boolean; read: boolean; delivered_cursor: number; read_cursor: number } {
  return { user: c.user, device: c.device, delivered: c.delivered >= m.seq, read: c.read >= m.seq, delivered_cursor: c.delivered, read_cursor: c.read };
}

async function findById(store: MessageStore, conversation: string, id: string): Promise<StoredMessage | null> {
  let before = (await store.lastSeq(conversation)) + 1;
  for (let scanned = 0; scanned < MAX_SCAN && before > 1; ) {
    const page = await store.readBefore(conversation, before, PAGE);
    if (page.length === 0) return null;
    for (const m of page) {
      if (m.messageId === id) return m;
    }
    scanned += page.length;
    before = page[page.length - 1].seq;
    // Newest first and ids sort by time: once a whole page is older, it is not further back.
    // (Ids of one millisecond differ in random bits: the 48-bit time prefix decides.)
    if (page[page.length - 1].messageId.slice(0, 13) < id.slice(0, 13)) return null;
  }
  return null;
}
