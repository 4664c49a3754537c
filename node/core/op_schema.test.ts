import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parsePeerOp, parsePeerResult, type PeerOp } from './op_schema.js';

const GROUP = 'g_' + 'a'.repeat(22);

function refused(json: string): { code: string; message: string } {
  const r: PeerOp = parsePeerOp(json);
  assert.equal(r.ok, false, `expected a refusal for ${json}`);
  return r as { code: string; message: string };
}

describe('parsePeerOp: an op forwarded by another node', () => {
  it('reads every well-formed op as the same CoreOp', () => {
    const ops = [
      { op: 'ack', conversation: 'd_x', seq: 3 },
      { op: 'read', conversation: 'd_x', seq: 0 },
      { op: 'sync', cursors: [{ conversation: 'd_x', seq: 2 }], limit: 0 },
      { op: 'history', conversation: 'd_x', beforeSeq: 0, limit: 50 },
      { op: 'open_direct', peer: 'bob' },
      { op: 'list' },
      { op: 'create_group', subject: 'team', members: ['bob', 'carol'], id: GROUP },
      { op: 'create_group', subject: '', members: [] },
      { op: 'add_members', conversation: GROUP, users: ['dave'] },
      { op: 'remove_members', conversation: GROUP, users: ['dave'] },
      { op: 'leave_group', conversation: GROUP },
      { op: 'set_subject', conversation: GROUP, subject: 'new' },
      { op: 'member_receipts', conversation: GROUP, seq: 1 },
      { op: 'presence_subscribe', users: ['bob'] },
      { op: 'presence_settings', hideLastSeen: true },
      { op: 'typing', conversation: 'd_x' },
      { op: 'send', conversation: 'd_x', clientMsgId: 'm1', body: 'hi', meta: { k: 'v' } },
    ];
    for (const op of ops) assert.deepEqual(parsePeerOp(JSON.stringify(op)), { ok: true, op, backend: false }, op.op);
  });

  it('carries the backend flag, and leaves unknown fields behind', () => {
    const r = parsePeerOp(JSON.stringify({ op: 'history', conversation: 'd_x', beforeSeq: 0, limit: 10, backend: true, evil: { x: 1 } }));
    assert.deepEqual(r, { ok: true, op: { op: 'history', conversation: 'd_x', beforeSeq: 0, limit: 10 }, backend: true });
  });

  it('refuses what is not a JSON object, or names no known op, with bad_frame', () => {
    for (const json of ['{', '[]', 'null', '"ack"', '{}', '{"op":"teleport"}', '{"op":7}']) assert.equal(refused(json).code, 'bad_frame', json);
    assert.match(refused('{"op":"teleport"}').message, /forwarded op: unknown op "teleport"/);
  });

  it('refuses a field that is missing or of the wrong type with invalid_argument naming the field', () => {
    const cases: Array<[object, string]> = [
      [{ op: 'ack', seq: 3 }, 'conversation'],
      [{ op: 'ack', conversation: '', seq: 3 }, 'conversation'],
      [{ op: 'ack', conversation: 7, seq: 3 }, 'conversation'],
      [{ op: 'ack', conversation: 'd_x', seq: '3' }, 'ack.seq'],
      [{ op: 'read', conversation: 'd_x' }, 'read.seq'],
      [{ op: 'sync', cursors: 'all', limit: 0 }, 'cursors'],
      [{ op: 'sync', cursors: [null], limit: 0 }, 'cursors[0]'],
      [{ op: 'sync', cursors: [{ conversation: 'd_x', seq: 1 }], limit: -1 }, 'limit'],
      [{ op: 'history', conversation: 'd_x', beforeSeq: 0, limit: 1.5 }, 'limit'],
      [{ op: 'create_group', subject: 'x', members: 'bob' }, 'members'],
      [{ op: 'create_group', subject: 'x', members: [1] }, 'members'],
      [{ op: 'create_group', members: [] }, 'subject'],
      [{ op: 'add_members', conversation: GROUP, users: [{}] }, 'users'],
      [{ op: 'presence_settings', hideLastSeen: 'yes' }, 'hideLastSeen'],
      [{ op: 'send', conversation: 'd_x', clientMsgId: 'm', body: 'b', meta: { k: 1 } }, 'meta.k'],
      [{ op: 'send', conversation: 'd_x', clientMsgId: 'm', body: 'b', meta: [] }, 'meta'],
      [{ op: 'history', conversation: 'd_x', beforeSeq: 0, limit: 5, backend: 'yes' }, 'backend'],
    ];
    for (const [op, field] of cases) {
      const r = refused(JSON.stringify(op));
      assert.equal(r.code, 'invalid_argument', JSON.stringify(op));
      assert.ok(r.message.startsWith(`forwarded op: ${field}`), `${JSON.stringify(op)}: ${r.message}`);
    }
  });

  it('refuses seqs a number cannot hold exactly, negative or fractional ones', () => {
    for (const seq of [2 ** 53, -1, 1.5, 1e300]) {
      const r = refused(JSON.stringify({ op: 'ack', conversation: 'd_x', seq }));
      assert.deepEqual([r.code, r.message], ['invalid_argument', `forwarded op: ack.seq: must be an integer in 0..${Number.MAX_SAFE_INTEGER} (2^53 - 1)`]);
    }
    assert.equal(refused(JSON.stringify({ op: 'sync', cursors: [{ conversation: 'd_x', seq: -4 }], limit: 0 })).code, 'invalid_argument');
  });

  it('applies the rules the core would apply anyway: user ids, client_msg_id, subject, group id, peer', () => {
    const cases: Array<[object, string]> = [
      [{ op: 'add_members', conversation: GROUP, users: ['has space'] }, 'users[]'],
      [{ op: 'create_group', subject: 'x', members: ['ok', 'x'.repeat(129)] }, 'members[]'],
      [{ op: 'create_group', subject: 'x'.repeat(257), members: [] }, 'subject'],
      [{ op: 'create_group', subject: 'x', members: [], id: 'g_short' }, 'group id'],
      [{ op: 'set_subject', conversation: GROUP, subject: 's'.repeat(300) }, 'subject'],
      [{ op: 'open_direct', peer: 'not/a/user' }, 'peer'],
      [{ op: 'send', conversation: 'd_x', clientMsgId: 'm'.repeat(65), body: '', meta: {} }, 'client_msg_id'],
    ];
    for (const [op, field] of cases) {
      const r = refused(JSON.stringify(op));
      assert.equal(r.code, 'invalid_argument', JSON.stringify(op));
      assert.ok(r.message.startsWith(`forwarded op: ${field}`), `${JSON.stringify(op)}: ${r.message}`);
    }
  });
});

describe('parsePeerResult: the result a peer answered with', () => {
  it('passes a known result through', () => {
    assert.deepEqual(parsePeerResult('{"r":"ok"}'), { r: 'ok' });
    assert.deepEqual(parsePeerResult('{"r":"error","code":"not_member","message":"no","retryAfterMs":0}'), { r: 'error', code: 'not_member', message: 'no', retryAfterMs: 0 });
  });

  it('turns anything else into internal: not JSON, an unknown kind, a code outside the catalog', () => {
    for (const json of ['{', '{"r":"teleported"}', 'null', '[]']) assert.deepEqual(parsePeerResult(json), { r: 'error', code: 'internal', message: 'malformed call result', retryAfterMs: 0 }, json);
    assert.deepEqual(parsePeerResult('{"r":"error","code":"oops","message":"m","retryAfterMs":-5}'), { r: 'error', code: 'internal', message: 'm', retryAfterMs: 0 });
  });
});
