/**
 * SwitchboardClient: the SDK's app-facing API over the engine (engine.ts): send and
 * the outbox, read marks, typing, presence, direct chats and groups, history, and the
 * state an app renders (conversations, messages, pending sends, ticks, unread counts).
 * The app calls these and re-renders on the events (types.ts, SdkEvents).
 */
import type { FrameInit } from './connection.js';
import { Engine } from './engine.js';
import { newClientMsgId } from './ids.js';
import { sha256Hex, uploadTus } from './media.js';
import { MemberRole } from '../gen/client_pb.js';
import type { Conversation } from './state.js';
import type { ConversationInfo, MediaRef, OutboxEntry, PresenceState, StoredMessage, Tick } from './types.js';

export type { Auth, ClientOptions } from './engine.js';

export class SwitchboardClient extends Engine {
  // ------------------------------------------------------------------ app API

  /** Queue a message; it is stored before it is sent, and resent until acked. */
  send(conversation: string, body: string, meta: Record<string, string> = {}): OutboxEntry {
    const entry: OutboxEntry = { conversation, clientMsgId: newClientMsgId(), body, meta, createdAt: this.o.clock.now() };
    this.conv(conversation);
    this.outbox.add(entry);
    void this.persist().then(() => this.outbox.pump(conversation));
    return entry;
  }

  /**
   * Send an attachment (PROTOCOL.md §13): ask for a slot, upload the bytes (tus,
   * resumed after a dropped link, SHA-256 declared so the server checks them), then
   * queue the message like send(). Needs a connection for the slot; the message itself
   * then goes through the outbox, so it survives reconnects and restarts.
   */
  async sendMedia(conversation: string, bytes: Uint8Array, mime: string, body = '', meta: Record<string, string> = {}): Promise<OutboxEntry> {
    const sha256 = await sha256Hex(bytes);
    const f = await this.request({ kind: { case: 'mediaSlot', value: { conversation, size: BigInt(bytes.length), mime, sha256 } } });
    if (f.kind.case !== 'mediaSlot') throw new Error(`media_slot answered with ${f.kind.case}`);
    const wait = (ms: number): Promise<void> => new Promise((r) => this.o.clock.setTimeout(r, ms));
    await uploadTus(f.kind.value.uploadUrl, bytes, this.o.fetch ?? globalThis.fetch, wait);
    const media: MediaRef = { mediaId: f.kind.value.mediaId, mime, size: bytes.length, sha256, width: 0, height: 0 };
    const entry: OutboxEntry = { conversation, clientMsgId: newClientMsgId(), body, meta, media, createdAt: this.o.clock.now() };
    this.conv(conversation);
    this.outbox.add(entry);
    void this.persist().then(() => this.outbox.pump(conversation));
    return entry;
  }

  /** A short-lived download URL for an attachment carried in `conversation` (GET it; Range works). */
  async mediaUrl(conversation: string, mediaId: string): Promise<{ url: string; expiresAtMs: number; mime: string; size: number }> {
    const f = await this.request({ kind: { case: 'mediaUrl', value: { conversation, mediaId } } });
    if (f.kind.case !== 'mediaUrl') throw new Error(`media_url answered with ${f.kind.case}`);
    return { url: f.kind.value.url, expiresAtMs: Number(f.kind.value.expiresAtMs), mime: f.kind.value.mime, size: Number(f.kind.value.size) };
  }

  /** Forget a failed send. */
  discard(conversation: string, clientMsgId: string): void {
    this.outbox.discard(conversation, clientMsgId);
    void this.persist();
  }

  /** The user has seen the conversation: read up to the highest contiguous seq. */
  markRead(conversation: string): void {
    const c = this.conv(conversation);
    if (c.cursor <= c.myRead) return;
    c.myRead = c.cursor;
    void this.persist();
    this.sendRead(conversation);
    this.emit('receipts', { conversation });
  }

  /** Tell the others this user is typing (throttled to what the node accepts). */
  typing(conversation: string): void {
    const last = this.lastTyping.get(conversation) ?? -Infinity;
    if (!this.conn?.open || !this.live || this.o.clock.now() - last < this.typingIntervalMs) return;
    this.lastTyping.set(conversation, this.o.clock.now());
    this.conn.send({ kind: { case: 'typing', value: { conversation } } });
  }

  /** Users typing in a conversation right now (local clock). */
  typingIn(conversation: string): string[] {
    const now = this.o.clock.now();
    return [...(this.typingState.get(conversation) ?? new Map<string, number>())].filter(([, until]) => until > now).map(([u]) => u);
  }

  presenceOf(user: string): PresenceState | undefined {
    return this.presenceState.get(user);
  }

  async openDirect(peer: string): Promise<string> {
    const f = await this.request({ kind: { case: 'openDirect', value: { peer } } });
    if (f.kind.case !== 'directOpened') throw new Error(`open_direct answered with ${f.kind.case}`);
    const c = this.conv(f.kind.value.conversation);
    c.kind = 'direct';
    c.members = f.kind.value.members;
    void this.persist();
    this.emit('conversations', {});
    return c.id;
  }

  async createGroup(subject: string, members: string[]): Promise<string> {
    return this.groupOp({ kind: { case: 'createGroup', value: { subject, members } } });
  }
  addMembers(conversation: string, users: string[]): Promise<string> {
    return this.groupOp({ kind: { case: 'addMembers', value: { conversation, users } } });
  }
  removeMembers(conversation: string, users: string[]): Promise<string> {
    return this.groupOp({ kind: { case: 'removeMembers', value: { conversation, users } } });
  }
  leaveGroup(conversation: string): Promise<string> {
    return this.groupOp({ kind: { case: 'leaveGroup', value: { conversation } } });
  }
  setSubject(conversation: string, subject: string): Promise<string> {
    return this.groupOp({ kind: { case: 'setSubject', value: { conversation, subject } } });
  }

  /**
   * The connection that changes a group gets group_info, not a push of the system
   * message recording the change (as a sender gets send_ack, not its message). Its seq
   * is then a hole above our cursor: sync fetches the system message (PROTOCOL.md §6.2).
   */
  protected async groupOp(init: FrameInit): Promise<string> {
    const f = await this.request(init);
    if (f.kind.case !== 'groupInfo') throw new Error(`answered with ${f.kind.case}`);
    const g = f.kind.value;
    const c = this.conv(g.conversation);
    c.kind = 'group';
    c.subject = g.subject;
    c.members = g.members.map((m) => m.user);
    c.admins = g.members.filter((m) => m.role === MemberRole.ADMIN).map((m) => m.user);
    if (Number(g.seq) > c.cursor) void this.sync();
    void this.persist();
    this.emit('conversations', {});
    return c.id;
  }

  /** Older messages, newest first (history does not move cursors); they are kept too. */
  async history(conversation: string, beforeSeq = 0, limit = 50): Promise<{ messages: StoredMessage[]; hasMore: boolean }> {
    const f = await this.request({ kind: { case: 'history', value: { conversation, beforeSeq: BigInt(beforeSeq), limit } } });
    if (f.kind.case !== 'historyPage') throw new Error(`history answered with ${f.kind.case}`);
    for (const m of f.kind.value.messages) this.ingest(m);
    this.conv(conversation).advance();
    void this.persist();
    return { messages: f.kind.value.messages.map((m) => this.conv(conversation).messages.get(Number(m.seq))!).filter(Boolean), hasMore: f.kind.value.hasMore };
  }

  // ------------------------------------------------------------------ reading state

  conversations(): ConversationInfo[] {
    return [...this.convs.values()].sort((a, b) => lastTs(b) - lastTs(a) || (a.id < b.id ? -1 : 1));
  }

  conversation(id: string): ConversationInfo | undefined {
    return this.convs.get(id);
  }

  /** Messages held for a conversation, in seq order. */
  messages(conversation: string): StoredMessage[] {
    return this.convs.get(conversation)?.sorted() ?? [];
  }

  /** Sends of a conversation not yet acked (pending or failed), in the order typed. */
  pending(conversation: string): OutboxEntry[] {
    return this.outbox.of(conversation);
  }

  tick(conversation: string, seq: number): Tick {
    return this.conv(conversation).tick(seq, this.user);
  }

  unread(conversation: string): number {
    const c = this.convs.get(conversation);
    if (!c) return 0;
    return c.sorted().filter((m) => m.seq > c.myRead && m.sender !== this.user && !m.meta.system).length;
  }
}

/** When a conversation last had a message held here (for ordering the list). */
function lastTs(c: Conversation): number {
  let ts = 0;
  for (const m of c.messages.values()) if (m.serverTs > ts) ts = m.serverTs;
  return ts;
}
