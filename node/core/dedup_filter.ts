/**
 * A filter that lets a send skip its dedup read (store.findByClientMsgId) when its
 * client_msg_id is certainly new, and never when it may be a resend.
 *
 * Why it is sound. The dedup read finds a message only if it is stored in the
 * conversation with that sender and client_msg_id. The filter answers "certainly new"
 * for a conversation only once it *covers* it: it has recorded (sender, client_msg_id)
 * of every message that is or may ever be stored there. Coverage starts like this:
 *   1. The barrier: everything the writer accepted before this filter existed has
 *      settled (`writer.flush()` at construction). After it, the only messages that can
 *      still land in the store are those submitted through this process's live service.
 *   2. Per conversation, on its first send here: an entry is created (from then on
 *      every send records its key BEFORE it is submitted, whatever the outcome), then
 *      after the barrier the conversation's first CHECK_ROWS + 1 stored messages are
 *      read. If there are at most CHECK_ROWS and all are system messages (which always
 *      read, below), nothing stored can be found by a client's id, nor can anything
 *      land later that was not recorded (1), so the entry covers the conversation. A
 *      new 1:1 conversation has no message; a new group has its `group_created` one.
 *      Anything else: the entry never covers it (its stored history is unknown here,
 *      or one of our own sends landed first, which is merely conservative).
 *   3. Only on SQLite: a commit that failed or whose thread died is decided for good
 *      (one transaction in a WAL), so after the barrier nothing old can land. A
 *      Cassandra write that timed out may still be applied later (hints replay for
 *      hours), even one from a previous process, so there the filter is off.
 * Keys are never removed: a send whose write failed, or whose outcome is unknown (a
 * store thread that died mid-commit, a Cassandra timeout that lands later), stays
 * "maybe seen", so its resend reads the store and finds it if it landed.
 *
 * The resend cases this gives:
 *   - After a restart (of the node, or of the chat service, which builds a new filter):
 *     the filter is empty, and a conversation with stored messages reads last seq > 0:
 *     never covered, every send reads the store.
 *   - After an ownership move: only on a single node is this filter on (`clustered`
 *     false). In a cell another node writes a conversation while it owns it, and a
 *     stale owner's late write can land above what a new owner loaded, so no node can
 *     know it has seen every stored key; there every send reads the store.
 *   - After a write failure: the key stays recorded (above), so the resend reads.
 *   - System messages (client_msg_id `sys:<message id>`, node/core/group_service.ts)
 *     are not submitted through `record`; ids with that prefix always read.
 *
 * Memory: one entry per conversation sent to here. A covered entry holds a scalable
 * Bloom filter (slices growing 4x, 16 bits per key, under 1 % false positives in all;
 * a false positive only costs the read). Past the global bit budget,
 * new conversations get a bare "never" entry, and a conversation whose own slices
 * would pass PER_CONVERSATION_BITS stops being covered: both only cost reads.
 */
import type { MessageStore } from '../store/store.js';

/** Stored messages read when a conversation's entry is made (see 2 above). */
const CHECK_ROWS = 16;

/** The writer's drain: resolves once everything accepted so far has settled. */
export interface Drainable {
  flush(): Promise<void>;
}

export interface DedupFilterOptions {
  /**
   * Bits for all conversations' filters together. 64 Mi bits = 8 MiB: ~3 M recorded
   * sends at 16 bits each (plus slack in the newest slices) before new conversations
   * stop being covered; small next to the node's conversation caches.
   */
  budgetBits?: number;
}

const FIRST_SLICE_BITS = 512; // 64 bytes: 32 keys; most conversations need few slices
// 16 bits and 5 probes per key: ~0.14 % false positives per full slice; slices grow 4x,
// so 5,000 keys sit in 5 slices and an unseen id reads the store in well under 1 % of sends.
const BITS_PER_KEY = 16;
const PROBES = 5;
const GROWTH = 4;
/** One conversation's filters at most (2 Mi bits = 256 KiB: ~44 k keys fit); past it, reads. */
const PER_CONVERSATION_BITS = 1 << 21;
const SYSTEM_PREFIX = 'sys:';

interface Slice {
  words: Uint32Array;
  bits: number;
  keys: number;
}

interface Entry {
  state: 'checking' | 'covered' | 'never';
  slices: Slice[];
  bits: number;
}

const NEVER: Entry = { state: 'never', slices: [], bits: 0 };

export class DedupFilter {
  private readonly entries = new Map<string, Entry>();
  private readonly barrier: Promise<void> | null;
  private readonly budgetBits: number;
  private usedBits = 0;
  /** Sends that skipped the read, and sends that read (tests and metrics). */
  readonly counts = { skipped: 0, read: 0 };

  /**
   * `writer` null, `clustered`, or a store other than SQLite: the filter is off (every
   * send reads). The barrier starts here: build the filter when the service that
   * submits every send starts.
   */
  constructor(
    private readonly store: Pick<MessageStore, 'kind' | 'readAfter'>,
    writer: Drainable | null,
    clustered: boolean,
    options: DedupFilterOptions = {},
  ) {
    this.barrier = writer && !clustered && store.kind === 'sqlite' ? writer.flush().catch(() => undefined) : null;
    this.budgetBits = options.budgetBits ?? 64 * 1024 * 1024;
  }

  /** True only when no message of `sender` with `clientMsgId` can be stored in `conversation`. */
  certainlyNew(conversation: string, sender: string, clientMsgId: string): boolean {
    const e = this.entry(conversation);
    if (e === null || e.state !== 'covered' || clientMsgId.startsWith(SYSTEM_PREFIX) || mayHave(e, sender, clientMsgId)) {
      this.counts.read += 1;
      return false;
    }
    this.counts.skipped += 1;
    return true;
  }

  /** Record a send before it is submitted (whether or not it will be stored). */
  record(conversation: string, sender: string, clientMsgId: string): void {
    const e = this.entry(conversation);
    if (e === null || e.state === 'never') return;
    let s = e.slices[e.slices.length - 1];
    if (!s || s.keys * BITS_PER_KEY >= s.bits) {
      const bits = s ? s.bits * GROWTH : FIRST_SLICE_BITS;
      if (e.bits + bits > PER_CONVERSATION_BITS || this.usedBits + bits > this.budgetBits) {
        this.forget(e);
        return;
      }
      s = { words: new Uint32Array(bits >>> 5), bits, keys: 0 };
      e.slices.push(s);
      e.bits += bits;
      this.usedBits += bits;
    }
    hashKey(sender, clientMsgId);
    for (let i = 0; i < PROBES; i++) {
      const bit = (H1 + i * H2) >>> 0;
      const at = bit & (s.bits - 1);
      s.words[at >>> 5] |= 1 << (at & 31);
    }
    s.keys += 1;
  }

  /** The entry of a conversation, made (and its check started) on first use; null when off. */
  private entry(conversation: string): Entry | null {
    if (this.barrier === null) return null;
    const have = this.entries.get(conversation);
    if (have) return have;
    if (this.usedBits + FIRST_SLICE_BITS > this.budgetBits) {
      this.entries.set(conversation, NEVER);
      return NEVER;
    }
    const e: Entry = { state: 'checking', slices: [], bits: 0 };
    this.entries.set(conversation, e);
    this.barrier
      .then(() => this.store.readAfter(conversation, 0, CHECK_ROWS + 1))
      .then(
        (stored) => {
          if (e.state !== 'checking') return;
          if (stored.length <= CHECK_ROWS && stored.every((m) => m.clientMsgId.startsWith(SYSTEM_PREFIX))) e.state = 'covered';
          else this.forget(e);
        },
        () => this.forget(e),
      );
    return e;
  }

  private forget(e: Entry): void {
    e.state = 'never';
    this.usedBits -= e.bits;
    e.slices = [];
    e.bits = 0;
  }
}

function mayHave(e: Entry, sender: string, clientMsgId: string): boolean {
  hashKey(sender, clientMsgId);
  for (const s of e.slices) {
    let all = true;
    for (let i = 0; i < PROBES && all; i++) {
      const at = ((H1 + i * H2) >>> 0) & (s.bits - 1);
      all = (s.words[at >>> 5] & (1 << (at & 31))) !== 0;
    }
    if (all) return true;
  }
  return false;
}

// Two 32-bit hashes of (sender, NUL, clientMsgId) for double hashing, left in module
// variables so a lookup allocates nothing (no key string, no tuple).
let H1 = 0;
let H2 = 0;
function hashKey(sender: string, id: string): void {
  let a = 0x811c9dc5; // FNV-1a
  let b = 0x9747b28c; // a multiply-xorshift mix, independent of a
  for (let i = 0; i <= sender.length + id.length; i++) {
    // sender, then NUL, then the id
    const c = i < sender.length ? sender.charCodeAt(i) : i === sender.length ? 0 : id.charCodeAt(i - sender.length - 1);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  H1 = a >>> 0;
  H2 = (b | 1) >>> 0; // odd: the probes of a power-of-two slice never repeat
}
