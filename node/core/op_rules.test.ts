import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkOp, messageSizeRule, sendContentRule, sendOpRule, seqRule, usersRule, type OpLimits } from './op_rules.js';
import type { CoreOp } from './ops.js';

const limits: OpLimits = { maxSyncPage: 500, maxHistoryPage: 200, maxConversationMembers: 3, maxPresenceSubscriptions: 2 };
const refusal = (op: CoreOp) => {
  const r = checkOp(op, limits);
  return r && [r.code, r.message];
};

describe('op rules at the client edge (checkOp)', () => {
  it('lets well-formed ops through', () => {
    const ok: CoreOp[] = [
      { op: 'send', conversation: 'd_x', clientMsgId: 'm'.repeat(64), body: 'hi', meta: {} },
      { op: 'ack', conversation: 'd_x', seq: Number.MAX_SAFE_INTEGER },
      { op: 'sync', cursors: [{ conversation: 'd_x', seq: 0 }], limit: 500 },
      { op: 'history', conversation: 'd_x', beforeSeq: 0, limit: 200 },
      { op: 'create_group', subject: 's', members: ['a', 'b', 'c', 'c'] },
      { op: 'member_receipts', conversation: 'g', seq: 1 },
      { op: 'presence_subscribe', users: ['a', 'b'] },
      { op: 'list' },
    ];
    for (const op of ok) assert.equal(checkOp(op, limits), null, op.op);
  });

  it('refuses conversation ids that are empty or over 1024 characters', () => {
    assert.deepEqual(refusal({ op: 'typing', conversation: '' }), ['invalid_argument', 'conversation: required']);
    assert.deepEqual(refusal({ op: 'typing', conversation: 'c'.repeat(1025) }), ['invalid_argument', 'conversation: too long']);
  });

  it('a send: conversation then client_msg_id, the same by sendOpRule (the socket hot path) as by checkOp', () => {
    const send = (conversation: string, clientMsgId: string): CoreOp => ({ op: 'send', conversation, clientMsgId, body: '', meta: {} });
    for (const [c, m] of [['d_x', 'm'], ['', 'm'], ['c'.repeat(1024), 'm'], ['c'.repeat(1025), ''], ['d_x', ''], ['d_x', 'm'.repeat(64)], ['d_x', 'm'.repeat(65)]]) {
      assert.deepEqual(sendOpRule(c, m), checkOp(send(c, m), limits), `${c.length} ${m.length}`);
    }
    assert.equal(sendOpRule('c'.repeat(1024), 'm'.repeat(64)), null);
    assert.equal(sendOpRule('c'.repeat(1025), '')?.message, 'conversation: too long', 'the conversation is named first');
  });

  it('refuses a client_msg_id that is empty or over 64 characters', () => {
    for (const id of ['', 'm'.repeat(65)]) {
      assert.deepEqual(refusal({ op: 'send', conversation: 'd_x', clientMsgId: id, body: '', meta: {} }), ['invalid_argument', 'client_msg_id: must be 1..64 characters']);
    }
  });

  it('refuses a seq a number cannot hold exactly, naming the field', () => {
    assert.deepEqual(refusal({ op: 'read', conversation: 'd_x', seq: 2 ** 53 }), ['invalid_argument', `read.seq: must be an integer in 0..${Number.MAX_SAFE_INTEGER} (2^53 - 1)`]);
    assert.equal(refusal({ op: 'sync', cursors: [{ conversation: 'a', seq: 1 }, { conversation: 'b', seq: -1 }], limit: 0 })?.[1], `sync.cursors[1].seq: must be an integer in 0..${Number.MAX_SAFE_INTEGER} (2^53 - 1)`);
    assert.equal(refusal({ op: 'history', conversation: 'd_x', beforeSeq: 0.5, limit: 0 })?.[1].split(':')[0], 'history.before_seq');
    assert.deepEqual(refusal({ op: 'member_receipts', conversation: 'g', seq: 0 }), ['invalid_argument', 'seq: must be >= 1']);
    assert.equal(seqRule('x', 0), null);
  });

  it('refuses pages above the limit and cursors without a conversation', () => {
    assert.deepEqual(refusal({ op: 'sync', cursors: [], limit: 501 }), ['invalid_argument', 'limit: at most 500']);
    assert.deepEqual(refusal({ op: 'history', conversation: 'd_x', beforeSeq: 0, limit: 201 }), ['invalid_argument', 'limit: at most 200']);
    assert.deepEqual(refusal({ op: 'sync', cursors: [{ conversation: '', seq: 1 }], limit: 0 }), ['invalid_argument', 'cursors[].conversation: required']);
  });

  it('refuses malformed user ids (invalid_argument) and more distinct users than the limit (limit_exceeded)', () => {
    assert.equal(refusal({ op: 'create_group', subject: '', members: ['ok', 'not ok'] })?.[0], 'invalid_argument');
    assert.deepEqual(refusal({ op: 'create_group', subject: '', members: ['a', 'b', 'c', 'd'] }), ['limit_exceeded', 'members: 4 users; the limit is 3']);
    assert.deepEqual(refusal({ op: 'presence_subscribe', users: ['a', 'b', 'c'] }), ['limit_exceeded', 'users: 3 users; the limit is 2']);
    assert.deepEqual(refusal({ op: 'add_members', conversation: 'g', users: [] }), ['invalid_argument', 'users: at least one user']);
    assert.equal(usersRule('users', ['x'.repeat(128)], 1), null);
    assert.equal(usersRule('users', ['x'.repeat(129)], 1)?.message, 'users[]: user ids of 1..128 chars of [A-Za-z0-9._:@-]');
  });
});

describe('what a message may carry (sendContentRule)', () => {
  it('refuses a forged system message or media reference', () => {
    assert.deepEqual(sendContentRule('hi', { system: 'member_added' }, 100), { code: 'invalid_argument', message: 'meta.system: reserved for server messages' });
    assert.equal(sendContentRule('hi', { $media: '{"mediaId":"m"}' }, 100)?.message, 'meta.$media: reserved; attach media with the media field');
    assert.equal(sendContentRule('hi', { mood: 'fine' }, 100), null);
  });

  it('counts UTF-8 bytes of body and meta against the limit, short messages included', () => {
    assert.equal(messageSizeRule('x'.repeat(100), {}, 100), null);
    assert.deepEqual(messageSizeRule('x'.repeat(101), {}, 100), { code: 'limit_exceeded', message: 'body and meta are 101 bytes; the limit is 100' });
    assert.equal(messageSizeRule('é'.repeat(50), {}, 100), null);
    assert.equal(messageSizeRule('é'.repeat(51), {}, 100)?.code, 'limit_exceeded', '51 two-byte characters are 102 bytes');
    assert.equal(messageSizeRule('😀'.repeat(26), {}, 100)?.code, 'limit_exceeded', '26 four-byte characters are 104 bytes');
    assert.equal(messageSizeRule('x'.repeat(60), { key: 'y'.repeat(40) }, 100)?.code, 'limit_exceeded', 'meta keys and values count');
    assert.equal(messageSizeRule('x'.repeat(60), { key: 'y'.repeat(37) }, 100), null);
  });
});
