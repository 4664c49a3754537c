import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CursorBook } from './receipts.js';
import type { MemberReceipt } from './ops.js';

const rc = (user: string, kind: 'delivered' | 'read', seq: number): MemberReceipt => ({ conversation: 'c1', user, kind, seq });

describe('CursorBook', () => {
  it('moves a device forward and reports the member receipts that moved', () => {
    const book = new CursorBook('c1');
    const r = book.apply('bob', 'phone', 5, 0);
    assert.deepEqual(r.changed, { conversation: 'c1', user: 'bob', device: 'phone', delivered: 5, read: 0 });
    assert.deepEqual(r.receipts, [rc('bob', 'delivered', 5)]);
  });

  it('never moves a cursor back', () => {
    const book = new CursorBook('c1');
    book.apply('bob', 'phone', 5, 3);
    const r = book.apply('bob', 'phone', 2, 1);
    assert.deepEqual(r, { changed: null, receipts: [] });
    assert.deepEqual(book.device('bob', 'phone'), { conversation: 'c1', user: 'bob', device: 'phone', delivered: 5, read: 3 });
  });

  it('read implies delivered', () => {
    const book = new CursorBook('c1');
    const r = book.apply('bob', 'phone', 0, 7);
    assert.equal(book.device('bob', 'phone')?.delivered, 7);
    assert.deepEqual(r.receipts, [rc('bob', 'delivered', 7), rc('bob', 'read', 7)]);
  });

  it('a member watermark is the max over devices; a lagging device emits nothing', () => {
    const book = new CursorBook('c1');
    book.apply('bob', 'phone', 10, 0);
    const r = book.apply('bob', 'laptop', 4, 0);
    assert.ok(r.changed, 'the device cursor itself moved and is persisted');
    assert.deepEqual(r.receipts, []);
    assert.deepEqual(book.memberReceipts(), [rc('bob', 'delivered', 10)]);
    assert.deepEqual(book.apply('bob', 'laptop', 12, 0).receipts, [rc('bob', 'delivered', 12)]);
  });

  it('memberReceipts lists every member with a non-zero watermark', () => {
    const book = new CursorBook('c1');
    assert.deepEqual(book.memberReceipts(), []);
    book.apply('bob', 'phone', 3, 2);
    book.apply('carol', 'phone', 1, 0);
    const got = book.memberReceipts().sort((a, b) => (a.user + a.kind).localeCompare(b.user + b.kind));
    assert.deepEqual(got, [rc('bob', 'delivered', 3), rc('bob', 'read', 2), rc('carol', 'delivered', 1)]);
  });

  it('loads stored cursors', () => {
    const book = new CursorBook('c1', [
      { conversation: 'c1', user: 'bob', device: 'phone', delivered: 9, read: 4 },
      { conversation: 'c1', user: 'bob', device: 'laptop', delivered: 2, read: 2 },
    ]);
    assert.deepEqual(book.device('bob', 'laptop'), { conversation: 'c1', user: 'bob', device: 'laptop', delivered: 2, read: 2 });
    assert.deepEqual(book.apply('bob', 'laptop', 9, 4).receipts, []);
    assert.deepEqual(book.memberReceipts(), [rc('bob', 'delivered', 9), rc('bob', 'read', 4)]);
  });

  it('matches a model: monotone devices, member = max over devices, receipts only on movement', () => {
    const upd = fc.record({
      user: fc.constantFrom('bob', 'carol'),
      device: fc.constantFrom('phone', 'laptop'),
      delivered: fc.integer({ min: 0, max: 30 }),
      read: fc.integer({ min: 0, max: 30 }),
    });
    fc.assert(
      fc.property(fc.array(upd, { maxLength: 60 }), (ups) => {
        const book = new CursorBook('c1');
        const dev = new Map<string, { delivered: number; read: number }>();
        const member = (user: string) => {
          let d = 0;
          let r = 0;
          for (const [k, v] of dev) if (k.startsWith(user + '/')) [d, r] = [Math.max(d, v.delivered), Math.max(r, v.read)];
          return { delivered: d, read: r };
        };
        for (const u of ups) {
          const key = `${u.user}/${u.device}`;
          const before = member(u.user);
          const old = dev.get(key) ?? { delivered: 0, read: 0 };
          const next = { delivered: Math.max(old.delivered, u.delivered, u.read), read: Math.max(old.read, u.read) };
          dev.set(key, next);
          const after = member(u.user);

          const res = book.apply(u.user, u.device, u.delivered, u.read);
          const moved = next.delivered !== old.delivered || next.read !== old.read;
          assert.deepEqual(res.changed, moved ? { conversation: 'c1', user: u.user, device: u.device, ...next } : null);
          const want: MemberReceipt[] = [];
          if (after.delivered > before.delivered) want.push(rc(u.user, 'delivered', after.delivered));
          if (after.read > before.read) want.push(rc(u.user, 'read', after.read));
          assert.deepEqual(res.receipts, want);
          const cur = book.device(u.user, u.device) ?? { delivered: 0, read: 0 };
          assert.deepEqual({ delivered: cur.delivered, read: cur.read }, next);
          assert.ok(cur.read <= cur.delivered, 'read implies delivered');
        }
        for (const user of ['bob', 'carol']) {
          const m = member(user);
          const got = book.memberReceipts().filter((r) => r.user === user);
          const want: MemberReceipt[] = [];
          if (m.delivered > 0) want.push(rc(user, 'delivered', m.delivered));
          if (m.read > 0) want.push(rc(user, 'read', m.read));
          assert.deepEqual(got, want);
        }
      }),
    );
  });
});
