/**
 * The session state machine fuzzed with fast-check's model-based commands
 * (shards/fuzz_session.ts): one client's connections, fed frames good and bad in its
 * encoding, host replies, live pushes, time passing and reconnects, checked after
 * every step against a model and the session's invariants. The short CI run; the
 * long one is `npm run bench -- fuzz`.
 */
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { defaultConfig } from '../node/config.js';
import { bytesInput, jsonInput, mutatedInput, rangeInput, validInput } from '../protocol/fuzz_frames.js';
import { FrameCmd, initial, fuzzLimits, newStats, runSession, sessionRun } from './fuzz_session.js';

const base = defaultConfig().limits;

describe('session, fuzzed', () => {
  it('any sequence of frames, replies, pushes, ticks and reconnects keeps the model and the invariants', () => {
    const stats = newStats();
    fc.assert(
      fc.property(sessionRun(base, 40), ([tight, enc, cmds]) => runSession(base, tight, enc, cmds, stats)),
      { numRuns: 300, includeErrorInReport: true },
    );
  });

  it('a valid frame after any run of bad or garbled ones is still answered as the model predicts', () => {
    const bad = fc.oneof(bytesInput(), mutatedInput(base), jsonInput(base), rangeInput().filter((i) => i.expect?.accept === false));
    const run = fc.constantFrom('json' as const, 'proto' as const).chain((enc) => fc.tuple(fc.constant(enc), fc.array(bad, { maxLength: 25 }), fc.array(validInput(base, enc), { minLength: 1, maxLength: 3 })));
    fc.assert(
      fc.property(run, ([enc, bads, goods]) => {
        const cmds = [...bads, ...goods].map((i) => new FrameCmd(i, 0));
        fc.modelRun(() => initial(fuzzLimits(base, false), false, enc, newStats()), cmds);
      }),
      { numRuns: 300, includeErrorInReport: true },
    );
  });
});
