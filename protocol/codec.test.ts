import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { create, equals, ScalarType, type DescField, type DescMessage } from '@bufbuild/protobuf';
import { PingSchema } from './gen/client_pb.js';
import { CatalogError } from './errors.js';
import {
  ClientFrameSchema,
  decodeClientFrame,
  decodeServerFrame,
  encodeClientFrame,
  encodeServerFrame,
  MAX_SEQ,
  negotiate,
  SEQ_FIELDS,
  ServerFrameSchema,
  serverFrameToJson,
  type ClientFrame,
  type Encoding,
} from './codec.js';

const utf8 = (s: string) => new TextEncoder().encode(s);

function decodeError(fn: () => unknown): CatalogError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof CatalogError, `expected a CatalogError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a CatalogError');
}

/** Client encode -> server decode, over the wire form each encoding uses. */
function clientRoundTrip(f: ClientFrame, enc: Encoding): ClientFrame {
  const wire = encodeClientFrame(f, enc);
  return decodeClientFrame(typeof wire === 'string' ? utf8(wire) : wire, enc === 'proto', enc);
}

const clientFrames: ClientFrame[] = [
  create(ClientFrameSchema, { reqId: 1, kind: { case: 'send', value: { conversation: 'c1', clientMsgId: 'm1', body: 'héllo 👋', meta: { a: '1', b: '' } } } }),
  create(ClientFrameSchema, { reqId: 2, kind: { case: 'ack', value: { conversation: 'c1', seq: 2n ** 53n - 1n } } }),
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
    const a = decodeClientFrame(utf8('{"ack":{"conversation":"c","seq":"9007199254740991"}}'), false, 'json');
    assert.equal(a.kind.case === 'ack' && a.kind.value.seq, 9007199254740991n);
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

/** Frames carrying `v` (JSON text) in each seq or cursor field, and the path the error names. */
const seqCarriers: Array<{ path: string; json: (v: string) => string; proto: (v: bigint) => ClientFrame }> = [
  {
    path: 'ack.seq',
    json: (v) => `{"req_id":21,"ack":{"conversation":"c","seq":${v}}}`,
    proto: (v) => create(ClientFrameSchema, { reqId: 21, kind: { case: 'ack', value: { conversation: 'c', seq: v } } }),
  },
  {
    path: 'read.seq',
    json: (v) => `{"req_id":21,"read":{"conversation":"c","seq":${v}}}`,
    proto: (v) => create(ClientFrameSchema, { reqId: 21, kind: { case: 'read', value: { conversation: 'c', seq: v } } }),
  },
  {
    path: 'sync.cursors[1].seq',
    json: (v) => `{"req_id":21,"sync":{"cursors":[{"conversation":"a","seq":"3"},{"conversation":"c","seq":${v}}]}}`,
    proto: (v) => create(ClientFrameSchema, { reqId: 21, kind: { case: 'sync', value: { cursors: [{ conversation: 'a', seq: 3n }, { conversation: 'c', seq: v }] } } }),
  },
  {
    path: 'history.before_seq',
    json: (v) => `{"req_id":21,"history":{"conversation":"c","before_seq":${v}}}`,
    proto: (v) => create(ClientFrameSchema, { reqId: 21, kind: { case: 'history', value: { conversation: 'c', beforeSeq: v } } }),
  },
  {
    path: 'member_receipts.seq',
    json: (v) => `{"req_id":21,"member_receipts":{"conversation":"c","seq":${v}}}`,
    proto: (v) => create(ClientFrameSchema, { reqId: 21, kind: { case: 'memberReceipts', value: { conversation: 'c', seq: v } } }),
  },
];

/** The seq or cursor a decoded carrier frame holds. */
function carried(f: ClientFrame): bigint {
  const k = f.kind;
  if (k.case === 'ack' || k.case === 'read' || k.case === 'memberReceipts') return k.value.seq;
  if (k.case === 'history') return k.value.beforeSeq;
  if (k.case === 'sync') return k.value.cursors[1].seq;
  throw new Error(`not a carrier: ${k.case}`);
}

/** The error frame a client would get for `e`, through the client's own JSON decoder. */
function asClientSees(e: CatalogError) {
  const wire = encodeServerFrame(create(ServerFrameSchema, { reqId: e.reqId, kind: { case: 'error', value: { code: e.code, message: e.message } } }), 'json');
  const f = decodeServerFrame(wire, 'json');
  assert.equal(f.kind.case, 'error');
  return { reqId: f.reqId, code: f.kind.value!.code };
}

function protoVarint(n: bigint): number[] {
  const out: number[] = [];
  for (; n >= 0x80n; n >>= 7n) out.push(Number(n & 0x7fn) | 0x80);
  out.push(Number(n));
  return out;
}

describe('integer ranges (seqs, cursors, req_id)', () => {
  it('every seq and cursor up to 2^53 - 1 is read exactly, in both encodings', () => {
    for (const c of seqCarriers) {
      for (const v of [0n, 1n, BigInt(MAX_SEQ)]) {
        for (const text of [String(v), `"${v}"`]) assert.equal(carried(decodeClientFrame(utf8(c.json(text)), false, 'json')), v, `${c.path} = ${text}`);
        assert.equal(carried(decodeClientFrame(encodeClientFrame(c.proto(v), 'proto') as Uint8Array, true, 'proto')), v, `${c.path} = ${v} (proto)`);
      }
    }
  });

  it('a seq or cursor above 2^53 - 1 gets invalid_argument naming the field, with the req_id, not a rounded seq', () => {
    // 9007199254740993 as a JSON number parses to 2^53: refused all the same, never read as a neighbour.
    const json = ['9007199254740992', '9007199254740993', '"9007199254740993"', '18446744073709551615', '"18446744073709551615"', '"18446744073709551616"', '1e400'];
    for (const c of seqCarriers) {
      for (const text of json) {
        const e = decodeError(() => decodeClientFrame(utf8(c.json(text)), false, 'json'));
        assert.deepEqual([e.code, e.reqId], ['invalid_argument', 21], `${c.path} = ${text}: ${e.message}`);
        assert.ok(e.message.startsWith(`${c.path}: `), e.message);
      }
      for (const v of [BigInt(MAX_SEQ) + 1n, 2n ** 63n, 2n ** 64n - 1n]) {
        const e = decodeError(() => decodeClientFrame(encodeClientFrame(c.proto(v), 'proto') as Uint8Array, true, 'proto'));
        assert.deepEqual([e.code, e.reqId, e.message.split(':')[0]], ['invalid_argument', 21, c.path], `${c.path} = ${v} (proto)`);
      }
    }
  });

  it('a negative or fractional seq or cursor gets invalid_argument, not bad_frame', () => {
    for (const c of seqCarriers) {
      for (const text of ['-1', '"-1"', '"-9007199254740993"', '1.5', '-0.5']) {
        const e = decodeError(() => decodeClientFrame(utf8(c.json(text)), false, 'json'));
        assert.deepEqual([e.code, e.reqId], ['invalid_argument', 21], `${c.path} = ${text}: ${e.message}`);
      }
    }
  });

  it('a JSON req_id outside uint32 gets invalid_argument without a req_id (there is none to echo)', () => {
    assert.equal(decodeClientFrame(utf8('{"req_id":4294967295,"ping":{}}'), false, 'json').reqId, 4294967295);
    assert.equal(decodeClientFrame(utf8('{"req_id":"4294967295","ping":{}}'), false, 'json').reqId, 4294967295);
    for (const text of ['4294967296', '-1', '1.5', '"4294967296"', '"-7"', '1e400', '18446744073709551616']) {
      for (const key of ['req_id', 'reqId']) {
        const e = decodeError(() => decodeClientFrame(utf8(`{"${key}":${text},"ping":{}}`), false, 'json'));
        assert.deepEqual([e.code, e.reqId, e.message.split(':')[0]], ['invalid_argument', 0, 'req_id'], `${key} = ${text}`);
        // Before: bad_frame echoing req_id 4294967296, -1 or 1.5, which a client's decoder refuses.
        assert.deepEqual(asClientSees(e), { reqId: 0, code: 'invalid_argument' });
      }
    }
  });

  it('a protobuf req_id varint beyond uint32 gets invalid_argument, not the low 32 bits', () => {
    const list = [0x8a, 0x01, 0x00]; // field 17 (list_conversations), empty
    const ok = decodeClientFrame(new Uint8Array([0x08, ...protoVarint(4294967295n), ...list]), true, 'proto');
    assert.equal(ok.reqId, 4294967295);
    for (const v of [2n ** 32n, 2n ** 32n + 5n, 2n ** 64n - 1n /* int32 -1 on the wire */]) {
      const e = decodeError(() => decodeClientFrame(new Uint8Array([0x08, ...protoVarint(v), ...list]), true, 'proto'));
      assert.deepEqual([e.code, e.reqId], ['invalid_argument', 0], `req_id ${v}`);
    }
    // The last req_id on the wire is the one that counts, as in protobuf; any wide one is refused.
    const twice = new Uint8Array([0x08, ...protoVarint(2n ** 33n), ...list, 0x08, 0x07]);
    assert.equal(decodeError(() => decodeClientFrame(twice, true, 'proto')).code, 'invalid_argument');
    // An unknown group (field 99) among the top-level fields: kept by protobuf, walked all the same.
    const group = [0x9b, 0x06, 0x08, 0x01, 0x9c, 0x06];
    assert.equal(decodeClientFrame(new Uint8Array([...group, 0x08, 0x09, ...list]), true, 'proto').reqId, 9);
    const wideAfterGroup = new Uint8Array([...group, 0x08, ...protoVarint(2n ** 40n), ...list]);
    assert.deepEqual([decodeError(() => decodeClientFrame(wideAfterGroup, true, 'proto')).code], ['invalid_argument']);
  });

  it('other uint32 fields out of range get invalid_argument with the req_id', () => {
    for (const text of ['-1', '4294967296', '2.5']) {
      const e = decodeError(() => decodeClientFrame(utf8(`{"req_id":"8","sync":{"limit":${text}}}`), false, 'json'));
      assert.deepEqual([e.code, e.reqId, e.message.split(':')[0]], ['invalid_argument', 8, 'sync.limit'], text);
    }
  });

  it('echoes a req_id given as a string, as protobuf JSON allows, on every decode error', () => {
    const bad = decodeError(() => decodeClientFrame(utf8('{"req_id":"12","ack":{"conversation":"c","seq":"many"}}'), false, 'json'));
    assert.deepEqual([bad.code, bad.reqId], ['bad_frame', 12]);
    const range = decodeError(() => decodeClientFrame(utf8('{"req_id":"12","ack":{"conversation":"c","seq":-3}}'), false, 'json'));
    assert.deepEqual(asClientSees(range), { reqId: 12, code: 'invalid_argument' });
  });

  it('a wrong JSON type in an integer field is still bad_frame', () => {
    for (const text of ['"many"', 'true', '{}', '[1]']) {
      assert.equal(decodeError(() => decodeClientFrame(utf8(`{"req_id":3,"ack":{"conversation":"c","seq":${text}}}`), false, 'json')).code, 'bad_frame', text);
    }
  });

  it('a decode error quoting a lone surrogate or a long value is still readable by a client (found by the fuzzer)', () => {
    // protobuf-es quotes the bad value in its message; a lone surrogate in the JSON error
    // frame made the client's own decoder throw ("invalid UTF8"), in protobuf it changed.
    for (const text of ['{"req_id":3,"ack":{"conversation":"c","seq":"\\ud800"}}', '{"req_id":3,"history":"\\udfffx"}', '{"req_id":3,"sync":{"cursors":[{"seq":"\\ud83d"}]}}']) {
      const e = decodeError(() => decodeClientFrame(utf8(text), false, 'json'));
      assert.deepEqual(asClientSees(e), { reqId: 3, code: 'bad_frame' }, text);
      const back = decodeServerFrame(encodeServerFrame(create(ServerFrameSchema, { reqId: 3, kind: { case: 'error', value: { code: e.code, message: e.message } } }), 'proto'), 'proto');
      assert.equal(back.kind.value && (back.kind.value as { message: string }).message, e.message, 'the same text in protobuf');
    }
    const long = decodeError(() => decodeClientFrame(utf8(`{"ack":{"seq":"${'9x'.repeat(20_000)}"}}`), false, 'json'));
    assert.ok(long.message.length <= 301, `a message of ${long.message.length} chars`);
  });

  it('SEQ_FIELDS lists every uint64 a client sends except ping.ts', () => {
    const found = new Set<DescField>();
    const walk = (m: DescMessage, seen: Set<DescMessage>) => {
      if (seen.has(m)) return;
      seen.add(m);
      for (const f of m.fields) {
        if ((f.fieldKind === 'scalar' || (f.fieldKind === 'list' && f.listKind === 'scalar')) && [ScalarType.UINT64, ScalarType.INT64, ScalarType.FIXED64].includes(f.scalar)) found.add(f);
        if (f.fieldKind === 'message' || (f.fieldKind === 'list' && f.listKind === 'message')) walk(f.message, seen);
      }
    };
    walk(ClientFrameSchema, new Set());
    found.delete(PingSchema.field.ts);
    assert.deepEqual([...found].map((f) => f.toString()).sort(), [...SEQ_FIELDS].map((f) => f.toString()).sort());
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
