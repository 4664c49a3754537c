import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { admitRestart, type RestartLimits } from './restart_window.js';

test('allows up to intensity restarts in the window, refuses the next', () => {
  const limits = { intensity: 2, periodMs: 1000 };
  let history: readonly number[] = [];
  const verdicts = [0, 100, 200].map((now) => {
    const v = admitRestart(history, now, limits);
    history = v.history;
    return v.allowed;
  });
  assert.deepEqual(verdicts, [true, true, false]);
});

test('old restarts age out; one exactly a period old is out', () => {
  const limits = { intensity: 1, periodMs: 1000 };
  assert.equal(admitRestart([0], 999, limits).allowed, false);
  assert.equal(admitRestart([0], 1000, limits).allowed, true);
  assert.deepEqual(admitRestart([0, 500], 1200, limits).history, [500, 1200]);
});

test('intensity 0 refuses the first restart', () => {
  assert.equal(admitRestart([], 0, { intensity: 0, periodMs: 1000 }).allowed, false);
});

const limitsArb = fc.record({ intensity: fc.integer({ min: 0, max: 6 }), periodMs: fc.integer({ min: 1, max: 5000 }) });
/** Non-decreasing restart times, as a monotonic clock gives them. */
const timesArb = fc
  .array(fc.integer({ min: 0, max: 3000 }), { maxLength: 40 })
  .map((gaps) => gaps.reduce<number[]>((acc, gap) => [...acc, (acc.at(-1) ?? 0) + gap], []));

/** Feed restart attempts through the window as a supervisor would, keeping the history. */
function run(times: readonly number[], limits: RestartLimits): { accepted: number[]; firstRefusal: number | undefined } {
  let history: readonly number[] = [];
  const accepted: number[] = [];
  for (const now of times) {
    const v = admitRestart(history, now, limits);
    history = v.history;
    if (!v.allowed) return { accepted, firstRefusal: now };
    accepted.push(now);
  }
  return { accepted, firstRefusal: undefined };
}

test('property: allowed exactly when the window (with this restart) holds at most intensity', () => {
  fc.assert(
    fc.property(timesArb, limitsArb, (times, limits) => {
      const now = times.at(-1) ?? 0;
      const history = times.slice(0, -1);
      const inWindow = history.filter((t) => now - t < limits.periodMs).length + 1;
      const v = admitRestart(history, now, limits);
      assert.equal(v.allowed, inWindow <= limits.intensity);
      assert.equal(v.history.length, inWindow);
      assert.ok(v.history.every((t) => now - t < limits.periodMs));
      assert.equal(v.history.at(-1), now);
    }),
  );
});

test('property: accepted restarts never exceed intensity inside any window of periodMs', () => {
  fc.assert(
    fc.property(timesArb, limitsArb, (times, limits) => {
      const { accepted } = run(times, limits);
      for (const end of accepted) {
        const inWindow = accepted.filter((t) => t <= end && end - t < limits.periodMs).length;
        assert.ok(inWindow <= limits.intensity, `${inWindow} restarts in the window ending at ${end}`);
      }
    }),
  );
});

test('property: a refusal means the window really was full', () => {
  fc.assert(
    fc.property(timesArb, limitsArb, (times, limits) => {
      const { accepted, firstRefusal } = run(times, limits);
      if (firstRefusal === undefined) return;
      const inWindow = accepted.filter((t) => firstRefusal - t < limits.periodMs).length;
      assert.equal(inWindow, limits.intensity);
    }),
  );
});

test('property: restarts spaced a full period apart are always allowed (intensity >= 1)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 30 }), (intensity, periodMs, n) => {
      const times = Array.from({ length: n }, (_, i) => i * periodMs);
      assert.equal(run(times, { intensity, periodMs }).firstRefusal, undefined);
    }),
  );
});
