import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ticketFixture as fixture } from './fixtures.js';
import { handleTicketRequest, type TicketResponse } from './ticket_handler.js';
import { TicketStore } from './tickets.js';
import type { Verifier } from './verify.js';

const codeOf = (res: TicketResponse) => ('code' in res.body ? res.body.code : undefined);

describe('handleTicketRequest', () => {
  it('201 with a ticket that redeems to the token identity', async () => {
    const { verifier, store, token, now } = await fixture();
    const res = await handleTicketRequest(`Bearer ${token}`, verifier, store);
    assert.equal(res.status, 201);
    assert.equal(res.headers['cache-control'], 'no-store');
    if (res.status !== 201) return;
    assert.equal(res.body.expires_at, now + 30_000);
    assert.deepEqual(store.redeem(res.body.ticket), { user: 'alice', device: 'phone', exp: now / 1000 + 600 });
  });

  it('401 unauthenticated without a bearer header', async () => {
    const { verifier, store } = await fixture();
    for (const h of [undefined, '', 'Basic abc']) {
      const res = await handleTicketRequest(h, verifier, store);
      assert.equal(res.status, 401);
      assert.equal(res.body.code, 'unauthenticated');
      assert.match(res.headers['www-authenticate'], /^Bearer/);
    }
    assert.equal(store.size, 0);
  });

  it('401 with the verifier code, never echoing the token', async () => {
    const { verifier, store, expiredToken, badToken } = await fixture();
    const expired = await handleTicketRequest(`Bearer ${expiredToken}`, verifier, store);
    assert.deepEqual([expired.status, codeOf(expired)], [401, 'token_expired']);
    const bad = await handleTicketRequest(`Bearer ${badToken}`, verifier, store);
    assert.deepEqual([bad.status, codeOf(bad)], [401, 'unauthenticated']);
    for (const [res, tok] of [[expired, expiredToken], [bad, badToken]] as const) {
      const text = JSON.stringify(res);
      for (const part of tok.split('.')) assert.ok(!text.includes(part), text);
    }
    assert.equal(store.size, 0);
  });

  it('lets unexpected faults propagate (a 500, not a 401)', async () => {
    const broken: Verifier = { verify: () => Promise.reject(new Error('store down')) };
    await assert.rejects(handleTicketRequest('Bearer x.y.z', broken, new TicketStore({ ttlMs: 1000 })), /store down/);
  });
});
