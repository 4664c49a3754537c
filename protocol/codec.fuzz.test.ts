/**
 * Property tests of the client frame decoder (fast-check), the short CI run; the long
 * one is `npm run bench -- fuzz`. Inputs: protocol/fuzz_frames.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { create, equals } from '@bufbuild/protobuf';
import { defaultConfig } from '../node/config.js';
import { ClientFrameSchema, ServerFrameSchema } from './gen/client_pb.js';
import { decodeClientFrame, type Encoding } from './codec.js';
import { CatalogError } from './errors.js';
import { ERROR_CODES } from './codes.js';
import { anyInput, carriedSeq, checkReply, fail, jsonish, rangeInput, validFrameInit, wire, type FuzzInput } from './fuzz_frames.js';

const limits = defaultConfig().limits;
/** Enough to cover every generator a few hundred times in well under a second each. */
const RUNS = 1500;

/** Decode as a connection speaking `enc` would; a refused frame comes back as its error. */
function decodeAs(input: FuzzInput, enc: Encoding) {
  try {
    return { frame: decodeClientFrame(input.bytes, input.isBinary, enc), error: null };
  } catch (e) {
    if (!(e instanceof CatalogError)) fail(`the decoder threw ${(e as Error)?.stack ?? String(e)}`, input);
    return { frame: null, error: e };
  }
}

describe('client frame decoder, fuzzed', () => {
  it('only ever returns a frame with a kind, or throws a catalogued CatalogError whose reply a client can read', () => {
    fc.assert(
      fc.property(anyInput(limits), (input) => {
        for (const enc of ['json', 'proto'] as const) {
          const { frame, error } = decodeAs(input, enc);
          if (error) {
            assert.ok(error.code in ERROR_CODES, error.code);
            checkReply(create(ServerFrameSchema, { reqId: error.reqId, kind: { case: 'error', value: { code: error.code, message: error.message, retryable: ERROR_CODES[error.code].retryable } } }), enc, input);
            continue;
          }
          if (frame.kind.case === undefined) fail('a frame with no kind was accepted', input);
          // What was accepted means one thing: encoded again, it decodes to the same frame.
          const again = decodeClientFrame(wire(frame, enc), enc === 'proto', enc);
          if (!equals(ClientFrameSchema, again, frame)) fail(`not stable: ${jsonish(frame)} -> ${jsonish(again)}`, input);
        }
      }),
      { numRuns: RUNS, includeErrorInReport: true },
    );
  });

  it('decodes seqs, cursors and req_ids at the edges of their range exactly as the oracle says', () => {
    fc.assert(
      fc.property(rangeInput(), (input) => {
        const x = input.expect!;
        const { frame, error } = decodeAs(input, input.enc);
        if (x.accept) {
          if (!frame) fail(`refused (${error!.code}: ${error!.message}), expected req_id ${x.reqId} seq ${x.seq}`, input);
          assert.equal(frame.reqId, x.reqId);
          if (x.seq !== null) assert.equal(carriedSeq(frame), x.seq);
        } else {
          if (!error) fail(`accepted ${jsonish(frame)}, expected ${x.code} for ${x.field}`, input);
          assert.deepEqual([error.code, error.reqId, error.message.split(': ')[0]], [x.code, x.reqId, x.field], error.message);
        }
      }),
      { numRuns: RUNS, includeErrorInReport: true },
    );
  });

  it('every valid frame round-trips through both encodings', () => {
    fc.assert(
      fc.property(validFrameInit(limits), (init) => {
        const f = create(ClientFrameSchema, init);
        for (const enc of ['json', 'proto'] as const) {
          const back = decodeClientFrame(wire(f, enc), enc === 'proto', enc);
          if (!equals(ClientFrameSchema, back, f)) fail(`${enc}: ${jsonish(f)} -> ${jsonish(back)}`);
        }
      }),
      { numRuns: RUNS, includeErrorInReport: true },
    );
  });
});
