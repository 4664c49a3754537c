/**
 * The chat service's caches over the store, and the only place a seq comes from.
 *
 * Each conversation this node owns has one live cached state (ConvState), loaded under
 * the ownership epoch (fencing token) that was current when its load started and
 * ended; the pure sequencer (sequencer.ts) holds its counters and decides when a state
 * retires. Conversations owned elsewhere are read fresh from the store every time and
 * never cached. Also kept here: loads in flight, the user -> conversations index (one
 * node only) and, in a cell, the last seq of each remote conversation whose delivery
 * reached this node (remoteSeen: the sync/push hand-over, messaging.ts).
 */
import type { MessageStore } from '../store/store.js';
import { CatalogError } from '../../protocol/errors.js';
import type { ConvState, Writer } from './chat_types.js';
import { CursorBook } from './receipts.js';
import { enforce } from './enforce.js';
import { conversationRule } from './op_rules.js';
import { loaded, SINGLE_NODE_EPOCH, step, type SeqEffect, type SeqEvent } from './sequencer.js';

/**
 * Who owns which conversation now (node/cluster: shard ownership under epochs).
 * Absent on one node: every conversation is owned here under SINGLE_NODE_EPOCH.
 */
export interface Ownership {
  /**
   * The ownership epoch (fencing token) under which this node owns the conversation's
   * shard now and takes its writes, or null: owned elsewhere, or moving.
   */
  epochOf(conversation: string): number | null;
}

/** The epoch of a state read while the conversation is owned elsewhere (never current). */
const NOT_OWNED = -1;

/**
 * Bound of remoteSeen: forgetting a watermark only narrows the hand-over for a sync in
 * flight at that very moment; the next sync or push closes any gap.
 */
const MAX_REMOTE_SEEN = 100_000;

/**
 * Bound of the user -> conversations index (one node), least recently used out first.
 * An entry is a list of ids (~100 B plus ~40 B an id), read once per connection
 * (sync, presence) and per list: it is worth keeping for the users online now, not
 * for every user seen since start (it was never evicted: one entry per user ever
 * connected, issue 14). 20,000 covers the users a node serves at once on this box's
 * figures (~18,000 sockets per process); a miss costs one indexed store read.
 */
export const MAX_USER_CONVS = 20_000;

const NO_CONVERSATIONS: readonly string[] = Object.freeze([]);

export class ConversationCache {
  private readonly convs = new Map<string, ConvState>();
  private readonly loading = new Map<string, { epoch: number; p: Promise<ConvState | null> }>();
  /**
   * One node only: user -> the ids of their conversations (a cell reads the index every
   * time). A list once read, not its promise (a settled Promise is 48 B more per online
   * user), and one shared empty list for users in no conversation yet (issue 14).
   */
  private readonly userConvs = new Map<string, readonly string[] | Promise<readonly string[]>>();
  private readonly remoteSeen = new Map<string, number>();

  constructor(
    private readonly store: MessageStore,
    private readonly writer: Writer,
    /** null: one node. */
    private readonly ownership: Ownership | null,
  ) {}

  /** True in a cell: conversations may be owned (and changed) by other nodes. */
  get clustered(): boolean {
    return this.ownership !== null;
  }

  // ------------------------------------------------------------------ access checks

  /** The state of a conversation `user` is a member of (`user` null: anyone, the HTTP API). */
  async member(user: string | null, conversation: string): Promise<ConvState> {
    enforce(conversationRule(conversation));
    const st = await this.state(conversation);
    if (!st || (user !== null && !st.memberSet.has(user))) {
      throw new CatalogError('not_member', `not a member of conversation ${conversation}`);
    }
    return st;
  }

  /** Like member(), but former members may read too (up to visibleUpTo). */
  async reader(user: string | null, conversation: string): Promise<ConvState> {
    enforce(conversationRule(conversation));
    const st = await this.state(conversation);
    if (!st || (user !== null && visibleUpTo(st, user) < 0)) {
      throw new CatalogError('not_member', `not a member of conversation ${conversation}`);
    }
    return st;
  }

  /**
   * The live cached state of a conversation `user` is a member of, loaded under the
   * current epoch: the only state a seq may come from. Refused (retryable) when the
   * node does not own the conversation now, or lost and re-took it during the load.
   */
  async sequencing(user: string, conversation: string): Promise<ConvState> {
    this.ownedEpoch(conversation);
    const st = await this.member(user, conversation);
    if (st.seq.retired !== null || st.seq.epoch !== this.epochOf(conversation) || this.convs.get(conversation) !== st) {
      throw new CatalogError('unavailable', `conversation ${conversation} moved while it was loading; retry`, 250);
    }
    return st;
  }

  /** True when `st` is a private fresh read (owned elsewhere), not this node's live state. */
  isFresh(st: ConvState): boolean {
    return this.convs.get(st.conv.id) !== st;
  }

  /** The live state if cached (group receipt flushes read it without loading). */
  cached(id: string): ConvState | undefined {
    return this.convs.get(id);
  }

  // ------------------------------------------------------------------ epochs and seqs

  /** This node's current epoch for the conversation's shard (null: owned elsewhere or moving). */
  epochOf(id: string): number | null {
    return this.ownership ? this.ownership.epochOf(id) : SINGLE_NODE_EPOCH;
  }

  /** The current epoch of a conversation this node must own for the op to run here. */
  ownedEpoch(id: string): number {
    const epoch = this.epochOf(id);
    if (epoch === null) throw new CatalogError('unavailable', `conversation ${id} is owned by another node now; retry`, 250);
    return epoch;
  }

  /** Take `count` seqs from a live state (synchronously: the caller submits in the same tick). */
  assign(st: ConvState, count: number, ops = count): { first: number; epoch: number } {
    const room = this.writer.room ? this.writer.room() : Number.MAX_SAFE_INTEGER;
    // The queue must take every op of the change; the sequencer counts seqs, so scale.
    const effects = this.feed(st, { t: 'assign', epoch: this.epochOf(st.conv.id), room: Math.floor((room * count) / ops), count });
    for (const f of effects) {
      if (f.t === 'write') return { first: f.first, epoch: f.epoch };
      if (f.t === 'refuse') {
        if (f.code === 'overloaded') throw new CatalogError('overloaded', 'the store write queue is full; retry', 100);
        throw new CatalogError('unavailable', `conversation ${st.conv.id} is moving (${f.why}); retry`, 250);
      }
    }
    throw new Error('sequencer: assign produced neither a write nor a refusal');
  }

  /** Run one sequencer event on a state and carry out the cache effects. */
  feed(st: ConvState, ev: SeqEvent): SeqEffect[] {
    const { state, effects } = step(st.seq, ev);
    st.seq = state;
    for (const f of effects) {
      if (f.t === 'drop' && this.convs.get(st.conv.id) === st) this.convs.delete(st.conv.id);
    }
    return effects;
  }

  // ------------------------------------------------------------------ loading

  state(id: string): Promise<ConvState | null> {
    const epoch = this.epochOf(id);
    // Owned elsewhere: a fresh read every time, never cached (the owner changes it).
    if (epoch === null) return this.load(id, null);
    const have = this.convs.get(id);
    if (have) {
      if (have.seq.epoch === epoch && have.seq.retired === null) return Promise.resolve(have);
      this.feed(have, { t: 'epoch', epoch });
    }
    const pending = this.loading.get(id);
    if (pending && pending.epoch === epoch) return pending.p;
    const p = this.load(id, epoch);
    const entry = { epoch, p };
    this.loading.set(id, entry);
    const done = (): void => {
      if (this.loading.get(id) === entry) this.loading.delete(id);
    };
    p.then(done, done);
    return p;
  }

  /**
   * Read a conversation's state from the store. `epoch` null: owned elsewhere, a
   * private read-only copy. Otherwise the state is cached as the live one only if the
   * node still holds that same epoch when the reads are done; a state read across an
   * epoch change is handed back retired (good for reads, never for a seq).
   */
  private async load(id: string, epoch: number | null): Promise<ConvState | null> {
    const conv = await this.store.getConversation(id);
    if (!conv) return null;
    const [last, first, cursors] = await Promise.all([this.store.lastSeq(id), this.store.firstSeq(id), this.store.getCursors(id)]);
    const st: ConvState = {
      conv,
      memberSet: new Set(conv.members.map((m) => m.user)),
      former: new Map((conv.former ?? []).map((f) => [f.user, f.untilSeq])),
      seq: loaded(epoch ?? NOT_OWNED, last),
      firstSeq: first,
      cursors: new CursorBook(id, cursors),
    };
    if (epoch === null || this.epochOf(id) !== epoch) {
      st.seq = step(st.seq, { t: 'epoch', epoch: null }).state;
      return st;
    }
    const raced = this.convs.get(id);
    if (raced && raced.seq.epoch === epoch && raced.seq.retired === null) return raced;
    this.convs.set(id, st);
    return st;
  }

  /** A conversation was just created: the next state() reads it from the store. */
  created(id: string, members: Iterable<string>): void {
    this.loading.delete(id);
    this.usersChanged(members);
  }

  /** These users' conversation lists changed (joined or created). */
  usersChanged(users: Iterable<string>): void {
    for (const u of users) this.userConvs.delete(u);
  }

  conversationsOf(user: string): Promise<readonly string[]> {
    // In a cell the owners of this user's conversations are elsewhere and change
    // them without telling this node: read the index every time.
    if (this.clustered) return this.store.listUserConversations(user);
    const p = this.userConvs.get(user);
    if (p) {
      // Most recently used last: Map keeps insertion order, so the first key is the oldest.
      this.userConvs.delete(user);
      this.userConvs.set(user, p);
      return p instanceof Promise ? p : Promise.resolve(p);
    }
    if (this.userConvs.size >= MAX_USER_CONVS) this.userConvs.delete(this.userConvs.keys().next().value as string);
    const loaded = this.store.listUserConversations(user);
    this.userConvs.set(user, loaded);
    loaded.then(
      (ids) => {
        // Still this read's entry (not dropped by usersChanged or evicted meanwhile): keep the list.
        if (this.userConvs.get(user) === loaded) this.userConvs.set(user, ids.length === 0 ? NO_CONVERSATIONS : ids);
      },
      () => {
        if (this.userConvs.get(user) === loaded) this.userConvs.delete(user);
      },
    );
    return loaded;
  }

  // ------------------------------------------------------------------ cell hand-over

  /** A delivery forwarded by the owner of `conversation` reached this node (see remoteSeen). */
  remoteDelivered(conversation: string, seq: number): void {
    if ((this.remoteSeen.get(conversation) ?? 0) >= seq) return;
    if (this.remoteSeen.size >= MAX_REMOTE_SEEN) this.remoteSeen.clear();
    this.remoteSeen.set(conversation, seq);
  }

  /** The highest seq of a remote conversation whose delivery reached this node (0: none). */
  seenRemotely(conversation: string): number {
    return this.remoteSeen.get(conversation) ?? 0;
  }

  /**
   * Drop cached state of the conversations `which` selects (their shard moved). The
   * states are retired, so a send still holding one cannot take a seq from it.
   */
  forget(which: (conversation: string) => boolean): void {
    for (const [id, st] of [...this.convs]) if (which(id)) this.feed(st, { t: 'epoch', epoch: null });
    for (const id of [...this.loading.keys()]) if (which(id)) this.loading.delete(id);
    for (const id of [...this.remoteSeen.keys()]) if (which(id)) this.remoteSeen.delete(id);
  }

  /**
   * The store failed a batch. Called by the write path before any promise of the
   * batch settles, so no send can take a seq from a counter that ran past an unstored
   * one; the writer fails everything queued behind the batch too.
   */
  writeFailed(): void {
    for (const st of [...this.convs.values()]) this.feed(st, { t: 'write_failed' });
    this.convs.clear();
  }
}

/** The last seq `user` may read: committed for members, the removal for former ones, -1 for others. */
export function visibleUpTo(st: ConvState, user: string): number {
  if (st.memberSet.has(user)) return st.seq.committed;
  const until = st.former.get(user);
  return until === undefined ? -1 : Math.min(until, st.seq.committed);
}
