/**
 * ChatService: the delivery contract of one node, as one object over its parts.
 *
 *   send  -> membership check -> dedup (in-flight map, then the durable key)
 *         -> next seq -> batch writer -> durable -> ack + fan-out    (messaging.ts)
 *   ack / read -> device cursors (watermarks) -> receipts to the others (receipt_service.ts)
 *   groups -> membership changes as system messages in seq order    (group_service.ts)
 *   sync  -> pages of everything after the device's cursors, in seq order (messaging.ts)
 *   presence, typing                                                  (presence_service.ts, receipt_service.ts)
 *
 * Ordering: seqs are assigned and submitted to the FIFO writer in the same tick, so
 * a conversation's messages commit, ack and fan out in seq order. Seqs come only from
 * the one live cached state of a conversation this node owns, under the ownership
 * epoch it was loaded with (sequencer.ts: the rule, as a pure state machine;
 * conversations.ts: its I/O shell and the caches), and every write carries that
 * epoch. `committed` (the highest durable seq per conversation) moves in the same
 * synchronous block that hands the message to the fan-out port, which is what lets a
 * sync page and live pushes hand over without a gap (messaging.ts sync()).
 */
import type { MessageStore } from '../store/store.js';
import type { Conversation } from '../store/types.js';
import type { Caller, SendInput, ServiceLimits, Writer } from './chat_types.js';
import { ConversationCache, type Ownership } from './conversations.js';
import type { FanoutPort } from './fanout_port.js';
import { GroupService } from './group_service.js';
import { Messaging } from './messaging.js';
import type { GroupInfo, HistoryPage, MediaSlotInfo, MediaUrlInfo, MemberReceiptsDetail, SendAck, SyncPage } from './ops.js';
import type { MediaPort } from './media_port.js';
import { CatalogError } from '../../protocol/errors.js';
import { PresenceService } from './presence_service.js';
import { ReceiptService } from './receipt_service.js';
import type { ConnectionRegistry } from './registry.js';

export type { Writer, Outbox, ServiceLimits, Caller, RemoteOrigin, SendInput } from './chat_types.js';
export { MAX_SUBJECT_CHARS } from './op_rules.js';
export { newGroupId } from './group_service.js';

export interface ChatDeps {
  store: MessageStore;
  writer: Writer;
  /** Presence follows the registry's opens and closes (it outlives a restart of this service). */
  registry: ConnectionRegistry;
  /** Where everything fanned out goes (local sockets, other nodes, push wrappers). */
  fanout: FanoutPort;
  /** Who owns which conversation (a cell); absent: one node owns everything. */
  ownership?: Ownership | null;
  limits: ServiceLimits;
  now?: () => number;
  /** Media attachments (node/media/); absent: media ops and sends with media are refused. */
  media?: MediaPort | null;
}

export class ChatService {
  readonly presence: PresenceService;
  private readonly convs: ConversationCache;
  private readonly messaging: Messaging;
  private readonly receipts: ReceiptService;
  private readonly groups: GroupService;
  private readonly media: MediaPort | null;

  constructor(d: ChatDeps) {
    const now = d.now ?? Date.now;
    const limits = d.limits;
    this.convs = new ConversationCache(d.store, d.writer, d.ownership ?? null);
    this.receipts = new ReceiptService(this.convs, d.store, d.writer, d.fanout, limits, now);
    this.media = d.media ?? null;
    this.messaging = new Messaging(this.convs, d.store, d.writer, d.fanout, this.receipts, limits, now, this.media);
    this.groups = new GroupService(this.convs, d.writer, this.messaging, this.receipts, limits, now);
    this.presence = new PresenceService(
      { store: d.store, writer: d.writer, push: (to, p) => d.fanout.pushTo(to, p), now, onHidden: (u, h) => d.fanout.presenceSetting(u, h) },
      {
        // Why these: see limits.* in node/config.ts (the same defaults).
        maxSubscriptions: limits.maxPresenceSubscriptions ?? 256,
        debounceMs: limits.presenceOfflineDebounceMs ?? 5_000,
        intervalMs: limits.presenceIntervalMs ?? 1_000,
      },
    );
    // The registry outlives a restart of this service: start from who is online now.
    const online = d.registry.observe((ev, ref) => (ev === 'open' ? this.presence.opened(ref) : this.presence.closed(ref)));
    for (const ref of online) this.presence.opened(ref);
  }

  /** Stop timers (the chat child stops). */
  close(): void {
    this.presence.stop();
    this.receipts.close();
  }

  // ------------------------------------------------------------------ messages
  openDirect(user: string, peer: string): Promise<Conversation> {
    return this.messaging.openDirect(user, peer);
  }
  listConversations(user: string): Promise<Array<{ conv: Conversation; lastSeq: number }>> {
    return this.messaging.listConversations(user);
  }
  /** Is `user` a current member of `conversation`? (The media service asks before slots and URLs.) */
  async isMember(user: string, conversation: string): Promise<boolean> {
    try {
      await this.convs.member(user, conversation);
      return true;
    } catch (e) {
      if (e instanceof CatalogError && e.code === 'not_member') return false;
      throw e;
    }
  }

  mediaSlot(caller: Caller, req: { conversation: string; size: number; mime: string; sha256: string }): Promise<MediaSlotInfo> {
    return this.mediaPort().slot(caller.user, req);
  }

  mediaUrl(caller: Caller, conversation: string, mediaId: string): Promise<MediaUrlInfo> {
    return this.mediaPort().url(caller.user, mediaId, conversation);
  }

  private mediaPort(): MediaPort {
    if (!this.media) throw new CatalogError('unavailable', 'media is not enabled on this node (media.enabled)');
    return this.media;
  }

  send(caller: Caller, input: SendInput): Promise<SendAck> {
    return this.messaging.send(caller, input);
  }
  sync(caller: Caller, cursors: Array<{ conversation: string; seq: number }>, limit: number): Promise<SyncPage> {
    return this.messaging.sync(caller, cursors, limit);
  }
  /** `caller` null: an app backend over the HTTP API, which may read any conversation. */
  history(caller: Caller | null, conversation: string, beforeSeq: number, limit: number): Promise<HistoryPage> {
    return this.messaging.history(caller, conversation, beforeSeq, limit);
  }

  // ------------------------------------------------------------------ receipts, typing
  ack(caller: Caller, conversation: string, seq: number): Promise<void> {
    return this.receipts.ack(caller, conversation, seq);
  }
  read(caller: Caller, conversation: string, seq: number): Promise<void> {
    return this.receipts.read(caller, conversation, seq);
  }
  memberReceipts(caller: Caller, conversation: string, seq: number): Promise<MemberReceiptsDetail> {
    return this.receipts.memberReceipts(caller, conversation, seq);
  }
  typing(caller: Caller, conversation: string): Promise<void> {
    return this.receipts.typing(caller, conversation);
  }

  // ------------------------------------------------------------------ groups
  createGroup(caller: Caller, subject: string, members: string[], id?: string): Promise<GroupInfo> {
    return this.groups.createGroup(caller, subject, members, id);
  }
  addMembers(caller: Caller, conversation: string, users: string[]): Promise<GroupInfo> {
    return this.groups.addMembers(caller, conversation, users);
  }
  removeMembers(caller: Caller, conversation: string, users: string[]): Promise<GroupInfo> {
    return this.groups.removeMembers(caller, conversation, users);
  }
  leaveGroup(caller: Caller, conversation: string): Promise<GroupInfo> {
    return this.groups.leaveGroup(caller, conversation);
  }
  setSubject(caller: Caller, conversation: string, subject: string): Promise<GroupInfo> {
    return this.groups.setSubject(caller, conversation, subject);
  }

  // ------------------------------------------------------------------ the cell and the store

  /** A delivery forwarded by the owner of `conversation` reached this node (before its local sockets get it). */
  remoteDelivered(conversation: string, seq: number): void {
    this.convs.remoteDelivered(conversation, seq);
  }
  /** Drop cached state of the conversations `which` selects (their shard moved). */
  forget(which: (conversation: string) => boolean): void {
    this.convs.forget(which);
  }
  /** The store failed a batch (the write path's failure event). */
  writeFailed(): void {
    this.convs.writeFailed();
  }
}
