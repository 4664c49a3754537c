import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { create, equals } from '@bufbuild/protobuf';
import {
  ClientFrameSchema,
  DecodeError,
  decodeClientFrame,
  decodeServerFrame,
  encodeClientFrame,
  encodeServerFrame,
  negotiate,
  ServerFrameSchema,
  serverFrameToJson,
  type ClientFrame,
  type Encoding,
} from './codec.js';

const utf8 = (s: string) => new TextEncoder().encode(s);

function decodeError(fn: () => unknown): DecodeError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof DecodeError, `expected a DecodeError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a DecodeError');
}

/** Client encode -> server decode, over the wire form each encoding uses. */
function clientRoundTrip(f: ClientFrame, enc: Encoding): ClientFrame {
  const wire = encodeClientFrame(f, enc);
  return decodeClientFrame(typeof wire === 'string' ? utf8(wire) : wire, enc === 'proto', enc);
}

const clientFrames: ClientFrame[] = [
  create(ClientFrameSchema, { reqId: 1, kind: { case: 'send', value: { conversation: 'c1', clientMsgId: 'm1', body: 'héllo 👋', meta: { a: '1', b: '' } } } }),
  create(ClientFrameSchema, { reqId: 2, kind: { case: 'ack', value: { conversation: 'c1', seq: 2n ** 53n + 7n } } }),
  create(ClientFrameSchema, { reqId: 3, kind: { case: 'read', value: { conversation: 'c1', seq: 9n } } }),
  create(ClientFrameSchema, { reqId: 4, kind: { case: 'sync', value: { cursors: [{ conversation: 'a', seq: 1n }, { conversation: 'b', seq: 0n }], limit: 50 } } }),
  create(ClientFrameSchema, { reqId: 5, kind: { case: 'history', value: { conversation: 'c1', beforeSeq: 100n, limit: 20 } } }),
  create(ClientFrameSchema, { reqId: 6, kind: { case: 'openDirect', value: { peer: 'bob' } } }),
  create(ClientFrameSchema, { reqId: 7, kind: { case: 'ping', value: { ts: 123n } } }),
  create(ClientFrameSchema, { reqId: 4294967295, kind: { case: 'listConversations', value: {} } }),
];

const serverFrames = [
  create(ServerFrameSchema, { reqId: 1, kind: { case: 'sendAck', value: { conversation: 'c1', clientMsgId: 'm1', messageId: 'id', seq: 5n, serverTs: 1_700_000_000_000n, duplicate: true } } }),
  create(ServerFrameSchema, { kind: { case: 'message', value: { conversation: 'c1', seq: 2n ** 60n, messageId: 'id', sender: 'bob', senderDevice: 'p', clientMsgId: 'x', body: 'b', meta: { k: 'v' }, serverTs: 1n } } }),
  create(ServerFrameSchema, {
    reqId: 2,
    kind: {
      case: 'syncPage',
      value: {
        messages: [{ conversation: 'c1', seq: 1n, body: 'x' }],
        conversations: [{ conversation: 'c1', lastSeq: 3n, firstSeq: 1n, resyncRequired: true, nextCursor: 1n }],
        hasMore: true,
        receipts: [{ conversation: 'c1', user: 'bob', seq: 2n }],
      },
    },
  }),
  create(ServerFrameSchema, { reqId: 3, kind: { case: 'error', value: { code: 'rate_limited', message: 'slow down', retryable: true, retryAfterMs: 250, conversation: 'c1', clientMsgId: 'm' } } }),
  create(ServerFrameSchema, { kind: { case: 'goaway', value: { reconnectAfterMs: 1000, reason: 'drain' } } }),
];

describe('negotiate', () => {
  it('defaults to JSON when the client offers nothing', () => {
    assert.deepEqual(negotiate(undefined), { encoding: 'json', subprotocol: '' });
    assert.deepEqual(negotiate('  '), { encoding: 'json', subprotocol: '' });
  });

  it('picks the first protocol of ours among those offered', () => {
    assert.deepEqual(negotiate('switchboard.v1.proto'), { encoding: 'proto', subprotocol: 'switchboard.v1.proto' });
    assert.deepEqual(negotiate('other, switchboard.v1.json ,switchboard.v1.proto'), { encoding: 'json', subprotocol: 'switchboard.v1.json' });
  });

  it('refuses when only foreign protocols are offered', () => {
    assert.equal(negotiate('mqtt, switchboard.v2.proto'), null);
  });
});

describe('client frames', () => {
  for (const enc of ['json', 'proto'] as const) {
    it(`round-trip every kind through ${enc}`, () => {
      for (const f of clientFrames) {
        const back = clientRoundTrip(f, enc);
        assert.ok(equals(ClientFrameSchema, back, f), `${f.kind.case} changed in ${enc}`);
      }
    });
  }

  it('JSON is sent as text with snake_case names and accepted in either spelling', () => {
    const wire = encodeClientFrame(clientFrames[0], 'json');
    assert.equal(typeof wire, 'string');
    const obj = JSON.parse(wire as string);
    assert.equal(obj.req_id, 1);
    assert.equal(obj.send.client_msg_id, 'm1');
    const camel = decodeClientFrame(utf8('{"reqId":9,"openDirect":{"peer":"bob"}}'), false, 'json');
    assert.deepEqual([camel.reqId, camel.kind.case, camel.kind.value && (camel.kind.value as { peer: string }).peer], [9, 'openDirect', 'bob']);
  });

  it('accepts uint64 as a JSON string or number', () => {
    const a = decodeClientFrame(utf8('{"ack":{"conversation":"c","seq":"18446744073709551615"}}'), false, 'json');
    assert.equal(a.kind.case === 'ack' && a.kind.value.seq, 18446744073709551615n);
    const b = decodeClientFrame(utf8('{"ack":{"conversation":"c","seq":42}}'), false, 'json');
    assert.equal(b.kind.case === 'ack' && b.kind.value.seq, 42n);
  });

  it('bad_frame for text that is not JSON or not UTF-8', () => {
    assert.equal(decodeError(() => decodeClientFrame(utf8('{"send":'), false, 'json')).code, 'bad_frame');
    assert.equal(decodeError(() => decodeClientFrame(new Uint8Array([0x7b, 0xff, 0x7d]), false, 'json')).code, 'bad_frame');
  });

  it('bad_frame for JSON that is not an object', () => {
    for (const text of ['[1]', '"send"', '42', 'null', 'true']) {
      assert.equal(decodeError(() => decodeClientFrame(utf8(text), false, 'json')).code, 'bad_frame', text);
    }
  });

  it('bad_frame for an object with a field of the wrong type, keeping its req_id', () => {
    const e = decodeError(() => decodeClientFrame(utf8('{"req_id":17,"ack":{"conversation":"c","seq":"many"}}'), false, 'json'));
    assert.deepEqual([e.code, e.reqId], ['bad_frame', 17]);
  });

  it('unknown_frame_type for a JSON object whose only kind is unknown', () => {
    const e = decodeError(() => decodeClientFrame(utf8('{"req_id":5,"teleport":{"to":"mars"}}'), false, 'json'));
    assert.deepEqual([e.code, e.reqId], ['unknown_frame_type', 5]);
  });

  it('bad_frame for bytes that are not a ClientFrame protobuf', () => {
    // Field 1 declared as a length-delimited field running past the end.
    assert.equal(decodeError(() => decodeClientFrame(new Uint8Array([0x0a, 0x10, 0x01]), true, 'proto')).code, 'bad_frame');
    assert.equal(decodeError(() => decodeClientFrame(new Uint8Array([0xff, 0xff, 0xff]), true, 'proto')).code, 'bad_frame');
  });

  it('unknown_frame_type for an empty protobuf (no kind set)', () => {
    assert.equal(decodeError(() => decodeClientFrame(new Uint8Array(0), true, 'proto')).code, 'unknown_frame_type');
    const onlyReqId = encodeClientFrame(create(ClientFrameSchema, { reqId: 3 }), 'proto') as Uint8Array;
    const e = decodeError(() => decodeClientFrame(onlyReqId, true, 'proto'));
    assert.deepEqual([e.code, e.reqId], ['unknown_frame_type', 3]);
  });

  it('bad_frame when the WebSocket opcode does not match the encoding', () => {
    const bin = encodeClientFrame(clientFrames[6], 'proto') as Uint8Array;
    assert.equal(decodeError(() => decodeClientFrame(bin, false, 'proto')).code, 'bad_frame');
  });

  it('takes an ArrayBuffer as well as a Uint8Array', () => {
    const bin = encodeClientFrame(clientFrames[1], 'proto') as Uint8Array;
    const ab = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) as ArrayBuffer;
    assert.ok(equals(ClientFrameSchema, decodeClientFrame(ab, true, 'proto'), clientFrames[1]));
  });
});

describe('server frames', () => {
  for (const enc of ['json', 'proto'] as const) {
    it(`round-trip through ${enc}`, () => {
      for (const f of serverFrames) {
        const wire = encodeServerFrame(f, enc);
        assert.equal(typeof wire, enc === 'json' ? 'string' : 'object');
        assert.ok(equals(ServerFrameSchema, decodeServerFrame(wire, enc), f), `${f.kind.case} changed in ${enc}`);
      }
    });
  }

  it('JSON output uses snake_case names and uint64 as decimal strings', () => {
    const obj = JSON.parse(serverFrameToJson(serverFrames[0]));
    assert.deepEqual(obj, {
      req_id: 1,
      send_ack: { conversation: 'c1', client_msg_id: 'm1', message_id: 'id', seq: '5', server_ts: '1700000000000', duplicate: true },
    });
    const sync = JSON.parse(serverFrameToJson(serverFrames[2]));
    assert.equal(sync.sync_page.has_more, true);
    assert.deepEqual(sync.sync_page.conversations[0], { conversation: 'c1', last_seq: '3', first_seq: '1', resync_required: true, next_cursor: '1' });
    const big = JSON.parse(serverFrameToJson(serverFrames[1]));
    assert.equal(big.message.seq, String(2n ** 60n), 'no precision lost above 2^53');
  });

  it('a binary server frame cannot be decoded from text', () => {
    assert.equal(decodeError(() => decodeServerFrame('{}', 'proto')).code, 'bad_frame');
  });
});
