/** The prepared send frame and the reply peek agree with protobuf-es, field by field. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, toBinary, fromBinary } from '@bufbuild/protobuf';
import { ClientFrameSchema, ServerFrameSchema } from '../../protocol/gen/client_pb.js';
import { sendTemplate, writeId, peek, ID_PREFIX, ID_DIGITS, KIND_SEND_ACK, KIND_MESSAGE, KIND_ERROR } from './chat_frames.js';

const idOf = (n: number): string => ID_PREFIX + String(n).padStart(ID_DIGITS, '0');

test('a patched send template decodes to the same frame with the new id', () => {
  const t = sendTemplate('conv-1', 'x'.repeat(300));
  const buf = Buffer.from(t.frame);
  writeId(buf, t.idAt, 12_345_678_901);
  const headerLen = buf.length - (buf[1] & 0x7f) === 6 ? 6 : 8; // 2 (+2 extended length) + 4 mask bytes
  const f = fromBinary(ClientFrameSchema, buf.subarray(headerLen));
  assert.equal(f.kind.case, 'send');
  assert.deepEqual(f.kind.case === 'send' && [f.kind.value.conversation, f.kind.value.clientMsgId, f.kind.value.body.length], ['conv-1', idOf(12_345_678_901), 300]);
});

test('peek finds the kind and id of send_ack, message and error frames, and nothing in others', () => {
  const enc = (init: object): Buffer => Buffer.from(toBinary(ServerFrameSchema, create(ServerFrameSchema, init as never)));
  const cases: Array<[Buffer, number, number]> = [
    [enc({ reqId: 7, kind: { case: 'sendAck', value: { conversation: 'c', clientMsgId: idOf(42), messageId: 'm', seq: 300n, serverTs: 1n } } }), KIND_SEND_ACK, 42],
    [enc({ kind: { case: 'message', value: { conversation: 'c', seq: 5n, messageId: 'm', sender: 's', senderDevice: 'd', clientMsgId: idOf(9_999_999_999), body: 'b', meta: { k: 'v' }, serverTs: 2n } } }), KIND_MESSAGE, 9_999_999_999],
    [enc({ reqId: 3, kind: { case: 'error', value: { code: 'overloaded', message: 'x', retryable: true, retryAfterMs: 100, conversation: 'c', clientMsgId: idOf(1) } } }), KIND_ERROR, 1],
    [enc({ kind: { case: 'error', value: { code: 'bad_frame', message: 'x' } } }), KIND_ERROR, -1],
    [enc({ kind: { case: 'message', value: { clientMsgId: 'someone-else' } } }), KIND_MESSAGE, -1],
    [enc({ kind: { case: 'pong', value: { ts: 1n } } }), 18, -1],
  ];
  for (const [buf, kind, id] of cases) assert.deepEqual({ ...peek(buf, 0, buf.length) }, { kind, id });
});
