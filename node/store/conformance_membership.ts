/**
 * Conformance cases for group membership, subjects and presence: the write ops added
 * for groups ('members', 'subject', 'presence') and the reads that expose them
 * (getConversation().former, listUserConversations, getPresence). Every backend runs
 * them next to ./conformance.ts:
 *
 *   runMembershipConformance('sqlite', () => Promise.resolve(new SqliteStore(file)));
 *
 * Same contract for `open` as runStoreConformance: a new handle on the same data each
 * call; ids carry random suffixes so runs do not interfere.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { MessageStore } from './store.js';
import type { Conversation, Member } from './types.js';
import { groupConv as group, withStore as withStoreOf } from './fixtures.js';

export function runMembershipConformance(name: string, open: () => Promise<MessageStore>): void {
  const withStore = <T>(fn: (store: MessageStore) => Promise<T>): Promise<T> => withStoreOf(open, fn);

  describe(`MessageStore membership conformance: ${name}`, () => {
    it('adds members with roles, indexes them, and a re-add updates the role', () =>
      withStore(async (store) => {
        const [admin, bob, carol] = [uid('admin'), uid('bob'), uid('carol')];
        const c = group(uid('g'), [admin]);
        await store.commit([{ kind: 'conversation', conversation: c }]);
        await store.commit([{ kind: 'members', conversation: c.id, add: [m(bob), m(carol)], remove: [] }]);
        await store.commit([{ kind: 'members', conversation: c.id, add: [m(bob), m(carol)], remove: [] }]);
        assert.deepEqual(membersOf(await store.getConversation(c.id)), [
          [admin, 'admin'],
          [bob, 'member'],
          [carol, 'member'],
        ].sort(byFirst));
        assert.deepEqual(await store.listUserConversations(carol), [c.id]);
        await store.commit([{ kind: 'members', conversation: c.id, add: [{ user: bob, role: 'admin' }], remove: [] }]);
        assert.deepEqual(membersOf(await store.getConversation(c.id)).find((x) => x[0] === bob), [bob, 'admin']);
        assert.equal((await store.getConversation(c.id))!.former ?? undefined, undefined, 'no former members yet');
      }));

    it('removal drops the membership, keeps the user index, and records untilSeq (max-merged)', () =>
      withStore(async (store) => {
        const [admin, bob, carol] = [uid('admin'), uid('bob'), uid('carol')];
        const c = group(uid('g'), [admin, bob, carol]);
        await store.commit([{ kind: 'conversation', conversation: c }]);
        await store.commit([{ kind: 'members', conversation: c.id, add: [], remove: [{ user: bob, untilSeq: 7 }] }]);
        let got = (await store.getConversation(c.id))!;
        assert.deepEqual(membersOf(got).map((x) => x[0]), [admin, carol].sort());
        assert.deepEqual(got.former, [{ user: bob, untilSeq: 7 }]);
        assert.deepEqual(await store.listUserConversations(bob), [c.id], 'a former member can still find what it may read');
        await store.commit([{ kind: 'members', conversation: c.id, add: [], remove: [{ user: bob, untilSeq: 3 }] }]);
        got = (await store.getConversation(c.id))!;
        assert.deepEqual(got.former, [{ user: bob, untilSeq: 7 }], 'a stale removal does not lower untilSeq');
      }));

    it('re-adding a former member makes it a member again and forgets the former entry', () =>
      withStore(async (store) => {
        const [admin, bob] = [uid('admin'), uid('bob')];
        const c = group(uid('g'), [admin, bob]);
        await store.commit([
          { kind: 'conversation', conversation: c },
          { kind: 'members', conversation: c.id, add: [], remove: [{ user: bob, untilSeq: 2 }] },
        ]);
        await store.commit([{ kind: 'members', conversation: c.id, add: [m(bob)], remove: [] }]);
        const got = (await store.getConversation(c.id))!;
        assert.deepEqual(membersOf(got).map((x) => x[0]), [admin, bob].sort());
        assert.equal(got.former ?? undefined, undefined);
      }));

    it('add and remove in one op apply together; the same user in both is refused', () =>
      withStore(async (store) => {
        const [admin, bob, carol] = [uid('admin'), uid('bob'), uid('carol')];
        const c = group(uid('g'), [admin, bob]);
        await store.commit([{ kind: 'conversation', conversation: c }]);
        await store.commit([{ kind: 'members', conversation: c.id, add: [m(carol)], remove: [{ user: bob, untilSeq: 4 }] }]);
        assert.deepEqual(membersOf(await store.getConversation(c.id)).map((x) => x[0]), [admin, carol].sort());
        await assert.rejects(
          store.commit([{ kind: 'members', conversation: c.id, add: [m(carol)], remove: [{ user: carol, untilSeq: 5 }] }]),
          (e: unknown) => (e as { code?: string }).code === 'invalid_argument',
        );
        assert.deepEqual(membersOf(await store.getConversation(c.id)).map((x) => x[0]), [admin, carol].sort(), 'the refused op changed nothing');
      }));

    it('a large membership change (1024 members) commits whole', () =>
      withStore(async (store) => {
        const users = Array.from({ length: 1024 }, (_, i) => `u${i}-${randomUUID()}`);
        const c = group(uid('g'), users.slice(0, 1));
        await store.commit([{ kind: 'conversation', conversation: c }, { kind: 'members', conversation: c.id, add: users.slice(1).map(m), remove: [] }]);
        assert.equal((await store.getConversation(c.id))!.members.length, 1024);
        assert.deepEqual(await store.listUserConversations(users[1023]), [c.id]);
      }));

    it('sets the subject; the last write wins', () =>
      withStore(async (store) => {
        const c = group(uid('g'), [uid('admin')]);
        await store.commit([{ kind: 'conversation', conversation: c }]);
        await store.commit([
          { kind: 'subject', conversation: c.id, subject: 'first' },
          { kind: 'subject', conversation: c.id, subject: 'second ✓' },
        ]);
        assert.equal((await store.getConversation(c.id))!.subject, 'second ✓');
      }));

    it('keeps presence: last seen max-merged, hidden set independently', () =>
      withStore(async (store) => {
        const [alice, bob, nobody] = [uid('alice'), uid('bob'), uid('nobody')];
        await store.commit([{ kind: 'presence', user: alice, lastSeenAt: 5000, hidden: null }]);
        await store.commit([{ kind: 'presence', user: alice, lastSeenAt: 4000, hidden: null }]);
        await store.commit([{ kind: 'presence', user: bob, lastSeenAt: null, hidden: true }]);
        const got = (await store.getPresence([alice, bob, nobody])).sort((a, b) => (a.user < b.user ? -1 : 1));
        const want = [
          { user: alice, at: 5000, hidden: false },
          { user: bob, at: 0, hidden: true },
        ].sort((a, b) => (a.user < b.user ? -1 : 1));
        assert.deepEqual(got, want);
        await store.commit([{ kind: 'presence', user: bob, lastSeenAt: 9000, hidden: false }]);
        assert.deepEqual(await store.getPresence([bob]), [{ user: bob, at: 9000, hidden: false }]);
        assert.deepEqual(await store.getPresence([]), []);
      }));

    it('membership, subject and presence survive a new handle', async () => {
      const [admin, bob] = [uid('admin'), uid('bob')];
      const c = group(uid('g'), [admin, bob]);
      await withStore((store) =>
        store.commit([
          { kind: 'conversation', conversation: c },
          { kind: 'members', conversation: c.id, add: [], remove: [{ user: bob, untilSeq: 9 }] },
          { kind: 'subject', conversation: c.id, subject: 'kept' },
          { kind: 'presence', user: admin, lastSeenAt: 123, hidden: true },
        ]),
      );
      await withStore(async (store) => {
        const got = (await store.getConversation(c.id))!;
        assert.equal(got.subject, 'kept');
        assert.deepEqual(got.former, [{ user: bob, untilSeq: 9 }]);
        assert.deepEqual(await store.getPresence([admin]), [{ user: admin, at: 123, hidden: true }]);
      });
    });
  });
}

function uid(prefix: string): string {
  return `${prefix}-${randomUUID()}`;
}

function m(user: string): Member {
  return { user, role: 'member' };
}


function membersOf(c: Conversation | null): Array<[string, string]> {
  assert.ok(c, 'conversation must exist');
  return c.members.map((x) => [x.user, x.role] as [string, string]).sort(byFirst);
}

function byFirst(a: [string, string] | string[], b: [string, string] | string[]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}
