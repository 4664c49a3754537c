import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthError } from './errors.js';
import { TicketStore } from './tickets.js';
import type { Identity } from './types.js';

const T0 = 1_900_000_000_000;

function clock() {
  let t = T0;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

const alice: Identity = { user: 'alice', device: 'phone', exp: T0 / 1000 + 3600 };

describe('TicketStore', () => {
  it('issues 256-bit URL-safe tickets, distinct each time', () => {
    const store = new TicketStore({ ttlMs: 30_000 });
    const a = store.issue(alice).ticket;
    const b = store.issue(alice).ticket;
    assert.match(a, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(a, 'base64url').length, 32);
    assert.notEqual(a, b);
  });

  it('redeems once', () => {
    const c = clock();
    const store = new TicketStore({ ttlMs: 30_000, now: c.now });
    const { ticket, expiresAt } = store.issue(alice);
    assert.equal(expiresAt, T0 + 30_000);
    assert.deepEqual(store.redeem(ticket), alice);
    assert.equal(store.redeem(ticket), null);
    assert.equal(store.redeem('never-issued'), null);
  });

  it('expires after ttlMs', () => {
    const c = clock();
    const store = new TicketStore({ ttlMs: 30_000, now: c.now });
    const early = store.issue(alice).ticket;
    const late = store.issue(alice).ticket;
    c.advance(29_999);
    assert.deepEqual(store.redeem(early), alice);
    c.advance(1);
    assert.equal(store.redeem(late), null);
  });

  it('never outlives the token', () => {
    const c = clock();
    const store = new TicketStore({ ttlMs: 30_000, now: c.now });
    const soon: Identity = { ...alice, exp: T0 / 1000 + 10 };
    const { ticket, expiresAt } = store.issue(soon);
    assert.equal(expiresAt, T0 + 10_000);
    c.advance(10_000);
    assert.equal(store.redeem(ticket), null);
  });

  it('refuses to issue for an identity already expired', () => {
    const store = new TicketStore({ ttlMs: 30_000, now: clock().now });
    assert.throws(
      () => store.issue({ ...alice, exp: T0 / 1000 }),
      (err: unknown) => err instanceof AuthError && err.code === 'token_expired',
    );
  });

  it('caps outstanding tickets, evicting the oldest', () => {
    const store = new TicketStore({ ttlMs: 30_000, maxOutstanding: 3, now: clock().now });
    const t = [1, 2, 3, 4, 5].map((n) => store.issue({ ...alice, device: `d${n}` }).ticket);
    assert.equal(store.size, 3);
    assert.equal(store.redeem(t[0]), null);
    assert.equal(store.redeem(t[1]), null);
    assert.deepEqual(
      t.slice(2).map((x) => store.redeem(x)?.device),
      ['d3', 'd4', 'd5'],
    );
  });

  it('sweeps expired tickets lazily so memory drains without redeems', () => {
    const c = clock();
    const store = new TicketStore({ ttlMs: 1000, now: c.now });
    for (let i = 0; i < 100; i++) store.issue(alice);
    c.advance(1000);
    // Each call sweeps a bounded batch from the head; a few calls drain 100 expired.
    for (let i = 0; i < 10; i++) store.redeem('nope');
    assert.equal(store.size, 0);
  });

  it('hands out a copy, so callers cannot alter a stored identity', () => {
    const store = new TicketStore({ ttlMs: 1000 });
    const id = { ...alice };
    const { ticket } = store.issue(id);
    id.user = 'mallory';
    assert.equal(store.redeem(ticket)?.user, 'alice');
  });

  it('validates its options', () => {
    assert.throws(() => new TicketStore({ ttlMs: 0 }), /ttlMs must be a positive integer \(got 0\)/);
    assert.throws(() => new TicketStore({ ttlMs: 1, maxOutstanding: 0 }), /maxOutstanding must be a positive integer/);
  });
});
