/**
 * The MessageStore conformance suite: every backend runs these same cases.
 *
 *   runStoreConformance('sqlite', () => Promise.resolve(new SqliteStore(file)));
 *
 * `open` must return a NEW handle on the SAME backing data each time it is called
 * (same file, same keyspace): the durability case commits through one handle, closes
 * it, and reads through another. Every case closes the handles it opened. Ids carry a
 * random suffix, so a backend whose data is shared between runs (one Cassandra
 * keyspace) needs no truncation between cases; `cleanup` runs once after the suite.
 *
 * Only backend-neutral behaviour is asserted: results are compared in a defined
 * order (seq order; members, users and cursors as sets), never by storage details.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { MessageStore } from './store.js';
import type { Conversation, DeviceCursor, StoredMessage, WriteOp } from './types.js';
import { groupConv as group, withStore as withStoreOf } from './fixtures.js';
import { SeqTakenError } from './errors.js';

export function runStoreConformance(
  name: string,
  open: () => Promise<MessageStore>,
  cleanup?: () => Promise<void>,
): void {
  const withStore = <T>(fn: (store: MessageStore) => Promise<T>): Promise<T> => withStoreOf(open, fn);

  describe(`MessageStore conformance: ${name}`, () => {
    if (cleanup) after(cleanup);

    it('reports its kind', () =>
      withStore(async (store) => {
        assert.equal(typeof store.kind, 'string');
        assert.ok(store.kind.length > 0);
      }));

    describe('conversations', () => {
      it('creates a conversation idempotently, with members and user index', () =>
        withStore(async (store) => {
          const c = group(uid('conv'), [uid('alice'), uid('bob'), uid('carol')]);
          await store.commit([{ kind: 'conversation', conversation: c }]);
          await store.commit([{ kind: 'conversation', conversation: c }]);

          const got = await store.getConversation(c.id);
          assert.ok(got, 'created conversation must be found');
          assert.deepEqual(normalizeConversation(got), normalizeConversation(c));
          for (const m of c.members) {
            assert.deepEqual(await store.listUserConversations(m.user), [c.id], `index of ${m.user}`);
          }
          assert.equal(await store.firstSeq(c.id), 1);
          assert.equal(await store.lastSeq(c.id), 0);
        }));

      it('creating twice in one batch is also one conversation', () =>
        withStore(async (store) => {
          const c = direct(uid('conv'), uid('alice'), uid('bob'));
          await store.commit([
            { kind: 'conversation', conversation: c },
            { kind: 'conversation', conversation: c },
          ]);
          assert.deepEqual(normalizeConversation((await store.getConversation(c.id))!), normalizeConversation(c));
          assert.deepEqual(await store.listUserConversations(c.members[0].user), [c.id]);
        }));

      it('returns null for an unknown conversation and empty results around it', () =>
        withStore(async (store) => {
          const id = uid('nope');
          assert.equal(await store.getConversation(id), null);
          assert.equal(await store.lastSeq(id), 0);
          assert.equal(await store.firstSeq(id), 1);
          assert.deepEqual(await store.readAfter(id, 0, 10), []);
          assert.deepEqual(await store.readBefore(id, 100, 10), []);
          assert.deepEqual(await store.getCursors(id), []);
          assert.equal(await store.findByClientMsgId(id, 'u', 'c'), null);
          assert.deepEqual(await store.listUserConversations(uid('nobody')), []);
        }));

      it('lists every conversation of a user', () =>
        withStore(async (store) => {
          const [alice, bob, carol] = [uid('alice'), uid('bob'), uid('carol')];
          const ab = direct(uid('ab'), alice, bob);
          const ac = direct(uid('ac'), alice, carol);
          const all = group(uid('g'), [alice, bob, carol]);
          await store.commit([ab, ac, all].map((conversation) => ({ kind: 'conversation', conversation })));
          assert.deepEqual(sorted(await store.listUserConversations(alice)), sorted([ab.id, ac.id, all.id]));
          assert.deepEqual(sorted(await store.listUserConversations(bob)), sorted([ab.id, all.id]));
          assert.deepEqual(sorted(await store.listUserConversations(carol)), sorted([ac.id, all.id]));
        }));
    });

    describe('messages', () => {
      it('appends messages; lastSeq follows the highest seq', () =>
        withStore(async (store) => {
          const conv = uid('conv');
          await store.commit(messages(conv, 1, 3));
          assert.equal(await store.lastSeq(conv), 3);
          await store.commit(messages(conv, 4, 5));
          assert.equal(await store.lastSeq(conv), 5);
        }));

      it('stores every field of a message as written', () =>
        withStore(async (store) => {
          const conv = uid('conv');
          const m: StoredMessage = {
            conversation: conv,
            seq: 1,
            messageId: uid('mid'),
            sender: uid('alice'),
            senderDevice: 'phone-1',
            clientMsgId: uid('cm'),
            body: 'héllo 👋 "quoted" \n newline',
            meta: { reply_to: '7', 'content-type': 'text/plain', empty: '' },
            serverTs: 1_700_000_000_123,
          };
          await store.commit([{ kind: 'message', message: m }]);
          assert.deepEqual(await store.readAfter(conv, 0, 10), [m]);
          assert.deepEqual(await store.findByClientMsgId(conv, m.sender, m.clientMsgId), m);
        }));

      it('readAfter pages ascending, exclusive of afterSeq, at most limit', () =>
        withStore(async (store) => {
          const conv = uid('conv');
          await store.commit(messages(conv, 1, 10));
          assert.deepEqual(seqs(await store.readAfter(conv, 0, 4)), [1, 2, 3, 4]);
          assert.deepEqual(seqs(await store.readAfter(conv, 4, 4)), [5, 6, 7, 8]);
          assert.deepEqual(seqs(await store.readAfter(conv, 8, 4)), [9, 10]);
          assert.deepEqual(seqs(await store.readAfter(conv, 10, 4)), []);
          assert.deepEqual(seqs(await store.readAfter(conv, 50, 4)), []);
          assert.deepEqual(seqs(await store.readAfter(conv, 0, 100)), range(1, 10));
          assert.deepEqual(seqs(await store.readAfter(conv, 9, 1)), [10]);
          assert.deepEqual(await store.readAfter(conv, 0, 0), []);
        }));

      it('readBefore pages descending, exclusive of beforeSeq, at most limit', () =>
        withStore(async (store) => {
          const conv = uid('conv');
          await store.commit(messages(conv, 1, 10));
          assert.deepEqual(seqs(await store.readBefore(conv, 11, 3)), [10, 9, 8]);
          assert.deepEqual(seqs(await store.readBefore(conv, 8, 3)), [7, 6, 5]);
          assert.deepEqual(seqs(await store.readBefore(conv, 3, 3)), [2, 1]);
          assert.deepEqual(seqs(await store.readBefore(conv, 1, 3)), []);
          assert.deepEqual(seqs(await store.readBefore(conv, 1000, 100)), range(1, 10).reverse());
          assert.deepEqual(await store.readBefore(conv, 11, 0), []);
        }));

      it('refuses a negative or fractional limit instead of reading everything', () =>
        withStore(async (store) => {
          const conv = uid('conv');
          await store.commit(messages(conv, 1, 3));
          await assert.rejects(store.readAfter(conv, 0, -1), RangeError);
          await assert.rejects(store.readBefore(conv, 10, 1.5), RangeError);
        }));

      it('rewriting the same message is a no-op', () =>
        withStore(async (store) => {
          const conv = uid('conv');
          const batch = messages(conv, 1, 3);
          await store.commit(batch);
          await store.commit(batch);
          await store.commit([batch[1], batch[1]]);
          const stored = await store.readAfter(conv, 0, 100);
          assert.deepEqual(
            stored,
            batch.map((op) => (op as Extract<WriteOp, { kind: 'message' }>).message),
          );
          assert.equal(await store.lastSeq(conv), 3);
        }));

      it('finds a message by (conversation, sender, client_msg_id); the sender is part of the key', () =>
        withStore(async (store) => {
          const conv = uid('conv');
          const [alice, bob] = [uid('alice'), uid('bob')];
          const fromAlice = message(conv, 1, { sender: alice, clientMsgId: 'c-1', body: 'from alice' });
          const fromBob = message(conv, 2, { sender: bob, clientMsgId: 'c-1', body: 'from bob' });
          await store.commit([
            { kind: 'message', message: fromAlice },
            { kind: 'message', message: fromBob },
          ]);
          assert.deepEqual(await store.findByClientMsgId(conv, alice, 'c-1'), fromAlice);
          assert.deepEqual(await store.findByClientMsgId(conv, bob, 'c-1'), fromBob);
          assert.equal(await store.findByClientMsgId(conv, alice, 'c-2'), null);
          assert.equal(await store.findByClientMsgId(uid('other'), alice, 'c-1'), null, 'dedup is per conversation');
        }));

      it('keeps conversations isolated', () =>
        withStore(async (store) => {
          const [a, b] = [uid('a'), uid('b')];
          await store.commit([...messages(a, 1, 5), ...messages(b, 1, 2)]);
          await store.commit([{ kind: 'trim', conversation: a, firstSeq: 3 }]);
          assert.equal(await store.lastSeq(a), 5);
          assert.equal(await store.lastSeq(b), 2);
          assert.deepEqual(seqs(await store.readAfter(b, 0, 10)), [1, 2]);
          assert.ok((await store.readAfter(b, 0, 10)).every((m) => m.conversation === b));
          assert.deepEqual(seqs(await store.readAfter(a, 0, 10)), [3, 4, 5]);
          assert.equal(await store.firstSeq(b), 1);
        }));

      it('commits a large batch (1000 messages) whole', () =>
        withStore(async (store) => {
          const conv = uid('conv');
          const batch = messages(conv, 1, 1000);
          await store.commit(batch);
          assert.equal(await store.lastSeq(conv), 1000);
          const all: StoredMessage[] = [];
          for (let after = 0; ; ) {
            const page = await store.readAfter(conv, after, 300);
            if (page.length === 0) break;
            all.push(...page);
            after = page[page.length - 1].seq;
          }
          assert.deepEqual(seqs(all), range(1, 1000));
          assert.ok(await store.findByClientMsgId(conv, SENDER, 'cm-1000'), 'dedup keys of the whole batch are written');
        }));

      it('commits a mixed batch of every op kind', () =>
        withStore(async (store) => {
          const c = direct(uid('conv'), uid('alice'), uid('bob'));
          await store.commit([
            { kind: 'conversation', conversation: c },
            ...messages(c.id, 1, 3),
            { kind: 'cursor', cursor: cursor(c.id, c.members[1].user, 'd1', 3, 2) },
            { kind: 'trim', conversation: c.id, firstSeq: 2 },
          ]);
          assert.ok(await store.getConversation(c.id));
          assert.deepEqual(seqs(await store.readAfter(c.id, 0, 10)), [2, 3]);
          assert.equal(await store.firstSeq(c.id), 2);
          assert.deepEqual(await store.getCursors(c.id), [cursor(c.id, c.members[1].user, 'd1', 3, 2)]);
        }));

      it('an empty batch commits', () => withStore(async (store) => store.commit([])));
    });

    describe('a stored seq never changes content', () => {
      it('refuses a different message at a stored seq with SeqTakenError, and nothing of that commit is stored', () =>
        withStore(async (store) => {
          const [alice, bob, carol] = [uid('alice'), uid('bob'), uid('carol')];
          const c = group(uid('conv'), [alice, bob]);
          const first = message(c.id, 1, { sender: alice, clientMsgId: 'first' });
          await store.commit([{ kind: 'conversation', conversation: c }, { kind: 'message', message: first }]);

          // What a stale owner (or a forked counter) sends: its own seq 1, and seq 2, with
          // a membership change and a subject change riding along.
          const stale = message(c.id, 1, { messageId: uid('stale'), sender: bob, clientMsgId: 'stale', body: 'not the first' });
          const next = message(c.id, 2, { sender: bob, clientMsgId: 'next' });
          await assert.rejects(
            store.commit([
              { kind: 'members', conversation: c.id, add: [{ user: carol, role: 'member' }], remove: [] },
              { kind: 'subject', conversation: c.id, subject: 'renamed by a stale owner' },
              { kind: 'message', message: stale },
              { kind: 'message', message: next },
            ]),
            (err: unknown) => {
              assert.ok(err instanceof SeqTakenError, `expected SeqTakenError, got ${String(err)}`);
              assert.equal(err.conversation, c.id);
              assert.equal(err.seq, 1);
              assert.equal(err.retryable, true, 'the sender may resend: nothing of it was stored');
              return true;
            },
          );

          assert.deepEqual(await store.readAfter(c.id, 0, 10), [first], 'seq 1 keeps its message and seq 2 stays free');
          assert.equal(await store.lastSeq(c.id), 1);
          assert.equal(await store.findByClientMsgId(c.id, bob, 'next'), null, 'the refused commit left no findable key');
          assert.deepEqual(normalizeConversation((await store.getConversation(c.id))!), normalizeConversation(c), 'members and subject unchanged');
          assert.deepEqual(await store.listUserConversations(carol), []);

          // The next writer continues after the stored seq.
          await store.commit([{ kind: 'message', message: next }]);
          assert.deepEqual(seqs(await store.readAfter(c.id, 0, 10)), [1, 2]);
        }));

      it('refuses two different messages at one seq inside one commit', () =>
        withStore(async (store) => {
          const conv = uid('conv');
          const a = message(conv, 1, { clientMsgId: 'a' });
          const b = message(conv, 1, { messageId: uid('other'), clientMsgId: 'b' });
          await assert.rejects(store.commit([{ kind: 'message', message: a }, { kind: 'message', message: b }]), SeqTakenError);
          assert.deepEqual(await store.readAfter(conv, 0, 10), []);
          assert.equal(await store.findByClientMsgId(conv, SENDER, 'a'), null);
          assert.equal(await store.findByClientMsgId(conv, SENDER, 'b'), null);
        }));

      it('writing the same message at its seq again is a retry: it succeeds and changes nothing', () =>
        withStore(async (store) => {
          const conv = uid('conv');
          const batch = messages(conv, 1, 3);
          await store.commit(batch);
          // A retried commit overlaps what is stored and adds seq 4: stored rows count as
          // written, the new one is written.
          await store.commit([batch[1], batch[2], ...messages(conv, 4, 4)]);
          await store.commit([batch[0]]);
          assert.deepEqual(
            await store.readAfter(conv, 0, 10),
            [...batch, ...messages(conv, 4, 4)].map((op) => (op as Extract<WriteOp, { kind: 'message' }>).message),
          );
          assert.equal((await store.findByClientMsgId(conv, SENDER, 'cm-4'))?.seq, 4);
        }));

      it('a dedup key finds only its own message: a refused message is not answered with the seq of the one stored there', () =>
        withStore(async (store) => {
          const conv = uid('conv');
          const [alice, bob] = [uid('alice'), uid('bob')];
          const stored = message(conv, 1, { sender: alice, clientMsgId: 'hello' });
          await store.commit([{ kind: 'message', message: stored }]);
          // Bob's message was given seq 1 by a stale owner; whatever the store did with it,
          // bob's resend must not be told "duplicate, seq 1": that is alice's message.
          const lost = message(conv, 1, { messageId: uid('lost'), sender: bob, clientMsgId: 'lost' });
          await store.commit([{ kind: 'message', message: lost }]).catch(() => undefined);
          assert.equal(await store.findByClientMsgId(conv, bob, 'lost'), null);
          assert.deepEqual(await store.findByClientMsgId(conv, alice, 'hello'), stored);
          assert.deepEqual(await store.readAfter(conv, 0, 10), [stored]);
        }));

      it('a refused write of a message stored at another seq does not hide it from its dedup key', () =>
        withStore(async (store) => {
          const conv = uid('conv');
          const y = message(conv, 1, { clientMsgId: 'y' });
          const x = message(conv, 2, { clientMsgId: 'x' });
          await store.commit([{ kind: 'message', message: y }, { kind: 'message', message: x }]);
          // A stale owner's copy of x, given seq 1 before the takeover, arrives late.
          const staleX = message(conv, 1, { messageId: uid('stale-x'), clientMsgId: 'x' });
          await store.commit([{ kind: 'message', message: staleX }]).catch(() => undefined);
          assert.deepEqual(await store.findByClientMsgId(conv, SENDER, 'x'), x, 'a resend of x must be answered with seq 2');
          assert.deepEqual(await store.readAfter(conv, 0, 10), [y, x]);
        }));
    });

    describe('retention', () => {
      it('trim drops messages below firstSeq and raises firstSeq; it never lowers it', () =>
        withStore(async (store) => {
          const c = group(uid('conv'), [uid('alice'), uid('bob')]);
          await store.commit([{ kind: 'conversation', conversation: c }, ...messages(c.id, 1, 10)]);
          await store.commit([{ kind: 'trim', conversation: c.id, firstSeq: 6 }]);
          assert.equal(await store.firstSeq(c.id), 6);
          assert.equal(await store.lastSeq(c.id), 10, 'trim keeps the newest messages');
          assert.deepEqual(seqs(await store.readAfter(c.id, 0, 100)), [6, 7, 8, 9, 10]);
          assert.deepEqual(seqs(await store.readAfter(c.id, 2, 2)), [6, 7]);
          assert.deepEqual(seqs(await store.readBefore(c.id, 8, 100)), [7, 6]);

          await store.commit([{ kind: 'trim', conversation: c.id, firstSeq: 3 }]);
          assert.equal(await store.firstSeq(c.id), 6, 'a stale trim does not lower firstSeq');
          assert.deepEqual(seqs(await store.readAfter(c.id, 0, 100)), [6, 7, 8, 9, 10]);
        }));

      it('a trimmed message is no longer found by its dedup key', () =>
        withStore(async (store) => {
          const c = group(uid('conv'), [uid('alice')]);
          await store.commit([{ kind: 'conversation', conversation: c }, ...messages(c.id, 1, 4)]);
          await store.commit([{ kind: 'trim', conversation: c.id, firstSeq: 3 }]);
          assert.equal(await store.findByClientMsgId(c.id, SENDER, 'cm-2'), null);
          assert.equal((await store.findByClientMsgId(c.id, SENDER, 'cm-3'))?.seq, 3);
        }));
    });

    describe('cursors', () => {
      it('max-merges each watermark independently; they never move backwards', () =>
        withStore(async (store) => {
          const conv = uid('conv');
          const bob = uid('bob');
          const put = (delivered: number, read: number) =>
            store.commit([{ kind: 'cursor', cursor: cursor(conv, bob, 'phone', delivered, read) }]);

          await put(5, 2);
          assert.deepEqual(await store.getCursors(conv), [cursor(conv, bob, 'phone', 5, 2)]);
          await put(3, 1);
          assert.deepEqual(await store.getCursors(conv), [cursor(conv, bob, 'phone', 5, 2)], 'older values ignored');
          await put(4, 4);
          assert.deepEqual(await store.getCursors(conv), [cursor(conv, bob, 'phone', 5, 4)], 'read moved, delivered kept');
          await put(9, 0);
          assert.deepEqual(await store.getCursors(conv), [cursor(conv, bob, 'phone', 9, 4)], 'delivered moved, read kept');
        }));

      it('max-merges several updates of one cursor inside one batch, in any order', () =>
        withStore(async (store) => {
          const conv = uid('conv');
          const bob = uid('bob');
          await store.commit([
            { kind: 'cursor', cursor: cursor(conv, bob, 'phone', 7, 1) },
            { kind: 'cursor', cursor: cursor(conv, bob, 'phone', 2, 6) },
            { kind: 'cursor', cursor: cursor(conv, bob, 'phone', 5, 3) },
          ]);
          assert.deepEqual(await store.getCursors(conv), [cursor(conv, bob, 'phone', 7, 6)]);
        }));

      it('keeps one cursor per (user, device)', () =>
        withStore(async (store) => {
          const conv = uid('conv');
          const [alice, bob] = [uid('alice'), uid('bob')];
          const want = [
            cursor(conv, alice, 'phone', 3, 3),
            cursor(conv, alice, 'laptop', 1, 0),
            cursor(conv, bob, 'phone', 2, 1),
          ];
          await store.commit(want.map((c) => ({ kind: 'cursor', cursor: c })));
          await store.commit([{ kind: 'cursor', cursor: cursor(uid('other'), alice, 'phone', 9, 9) }]);
          assert.deepEqual(sortCursors(await store.getCursors(conv)), sortCursors(want));
        }));
    });

    describe('durability', () => {
      it('a new handle on the same data sees everything committed through a closed one', async () => {
        const c = group(uid('conv'), [uid('alice'), uid('bob')]);
        const bob = c.members[1].user;
        await withStore((store) =>
          store.commit([
            { kind: 'conversation', conversation: c },
            ...messages(c.id, 1, 20),
            { kind: 'cursor', cursor: cursor(c.id, bob, 'phone', 20, 15) },
            { kind: 'trim', conversation: c.id, firstSeq: 5 },
          ]),
        );
        await withStore(async (store) => {
          assert.deepEqual(normalizeConversation((await store.getConversation(c.id))!), normalizeConversation(c));
          assert.deepEqual(await store.listUserConversations(bob), [c.id]);
          assert.equal(await store.lastSeq(c.id), 20);
          assert.equal(await store.firstSeq(c.id), 5);
          assert.deepEqual(seqs(await store.readAfter(c.id, 0, 100)), range(5, 20));
          assert.equal((await store.findByClientMsgId(c.id, SENDER, 'cm-12'))?.seq, 12);
          assert.deepEqual(await store.getCursors(c.id), [cursor(c.id, bob, 'phone', 20, 15)]);
        });
      });
    });
  });
}

// ---- fixtures ----

const SENDER = 'sender-fixed';

function uid(prefix: string): string {
  return `${prefix}-${randomUUID()}`;
}

function message(conversation: string, seq: number, over: Partial<StoredMessage> = {}): StoredMessage {
  return {
    conversation,
    seq,
    messageId: `m-${conversation}-${seq}`,
    sender: SENDER,
    senderDevice: 'dev-1',
    clientMsgId: `cm-${seq}`,
    body: `body ${seq}`,
    meta: seq % 2 === 0 ? { n: String(seq) } : {},
    serverTs: 1_700_000_000_000 + seq,
    ...over,
  };
}

/** Message ops for seqs from..to inclusive. */
function messages(conversation: string, from: number, to: number): WriteOp[] {
  return range(from, to).map((seq) => ({ kind: 'message', message: message(conversation, seq) }));
}

function direct(id: string, a: string, b: string): Conversation {
  return {
    id,
    kind: 'direct',
    members: [
      { user: a, role: 'member' },
      { user: b, role: 'member' },
    ],
    createdAt: 1_700_000_000_000,
    subject: '',
  };
}


function cursor(conversation: string, user: string, device: string, delivered: number, read: number): DeviceCursor {
  return { conversation, user, device, delivered, read };
}

function normalizeConversation(c: Conversation): Conversation {
  return { ...c, members: [...c.members].sort((x, y) => cmp(x.user, y.user)) };
}

function sortCursors(cs: DeviceCursor[]): DeviceCursor[] {
  return [...cs].sort((a, b) => cmp(a.user, b.user) || cmp(a.device, b.device));
}

function sorted(xs: string[]): string[] {
  return [...xs].sort(cmp);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function seqs(ms: StoredMessage[]): number[] {
  return ms.map((m) => m.seq);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}
