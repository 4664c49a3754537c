/**
 * `bench fuzz`: the session fuzz harness (shards/fuzz_session.ts) for at least
 * `--frames` generated client frames (default 1,000,000), outside CI. Each generated
 * run is one client's connections in one encoding: frames valid, random, mutated,
 * JSON-edited and range-edge (protocol/fuzz_frames.ts) through decode -> session ->
 * reply encoding, interleaved with host replies, live pushes, time and reconnects,
 * every step checked against the model and the session invariants.
 *
 * Runs are drawn in batches from fast-check with seeds `--seed`, `--seed`+1, ..., so a
 * run is reproducible from the seed alone. A failing run is printed with its batch
 * seed and its commands, and counted; the bench goes on and exits 1 at the end.
 * Prints progress once a second, frames/s and the count of each outcome (every
 * error code of the catalog, forwarded, pong, dropped) at the end.
 */
import os from 'node:os';
import fc from 'fast-check';
import { defaultConfig } from '../node/config.js';
import { ERROR_CODES } from '../protocol/codes.js';
import { FuzzFailure } from '../protocol/fuzz_frames.js';
import { newStats, runSession, sessionRun } from '../shards/fuzz_session.js';
import { bool, checkKnown, num, type Flags } from '../ops/lib/args.js';
import { fmt } from './lib/table.js';
import { finishRun, startRun } from './lib/run_output.js';

const FLAGS = ['frames', 'seed', 'commands', 'batch', 'smoke', 'out'];
/** Failures printed in full; more are only counted (one bug tends to repeat). */
const MAX_REPORTED = 10;

export async function runFuzz(flags: Flags, argv: string[]): Promise<string> {
  checkKnown(flags, FLAGS);
  const smoke = bool(flags, 'smoke');
  const cfg = {
    frames: num(flags, 'frames', smoke ? 20_000 : 1_000_000),
    seed: num(flags, 'seed', Date.now() % 2 ** 31),
    // Commands per generated run: long enough for syncs, replies and reconnects to interleave.
    commands: num(flags, 'commands', 100),
    // Runs drawn per fast-check seed; each batch is reproducible alone from its seed.
    batch: num(flags, 'batch', 500),
  };
  const { startedAt, machine } = startRun();
  console.log(`fuzz: ${fmt(cfg.frames)} frames, seed ${cfg.seed}, up to ${cfg.commands} commands per run`);
  const base = defaultConfig().limits;
  const arb = sessionRun(base, cfg.commands);
  const stats = newStats();
  const failures: Array<{ seed: number; index: number; error: string; commands: string }> = [];
  let failed = 0;
  let runs = 0;
  const t0 = performance.now();
  let lastTick = t0;
  let lastFrames = 0;
  const timeline: Array<[number, number]> = [];
  for (let b = 0; stats.frames < cfg.frames; b++) {
    const seed = cfg.seed + b;
    const lives = fc.sample(arb, { numRuns: cfg.batch, seed });
    for (let i = 0; i < lives.length && stats.frames < cfg.frames; i++) {
      const [tight, enc, cmds] = lives[i];
      runs++;
      try {
        runSession(base, tight, enc, cmds, stats);
      } catch (e) {
        failed++;
        const error = e instanceof FuzzFailure ? e.message : ((e as Error)?.stack ?? String(e));
        if (failures.length < MAX_REPORTED) {
          const commands = `[${tight ? 'tight' : 'loose'} ${enc}] ${[...cmds].map(String).join(' ; ')}`;
          failures.push({ seed, index: i, error, commands });
          console.log(`FAILURE in batch seed ${seed}, run ${i}: ${error}\n  commands: ${commands.slice(0, 2000)}`);
        }
      }
      const now = performance.now();
      if (now - lastTick >= 1000) {
        const rate = ((stats.frames - lastFrames) * 1000) / (now - lastTick);
        timeline.push([(now - t0) / 1000, rate]);
        console.log(`  ${fmt(stats.frames)} / ${fmt(cfg.frames)} frames (${((stats.frames / cfg.frames) * 100).toFixed(1)} %), ${fmt(rate)} frames/s, ${fmt(runs)} runs, ${failed} failed`);
        lastTick = now;
        lastFrames = stats.frames;
      }
    }
  }
  const elapsed = (performance.now() - t0) / 1000;
  const framesPerSec = Math.round(stats.frames / elapsed);
  const loadEnd = Math.round(os.loadavg()[0] * 100) / 100;
  // Every catalogued code is listed, a zero included: that a code never came up is a finding too.
  const outcomes: Record<string, number> = {};
  for (const k of [...Object.keys(ERROR_CODES), 'forward', 'pong', 'none']) outcomes[k] = stats.outcomes.get(k) ?? 0;
  for (const [k, v] of stats.outcomes) if (!(k in outcomes)) outcomes[k] = v;
  const bySource = Object.fromEntries([...stats.bySource].sort((a, b) => b[1] - a[1]));
  const pct = (n: number) => `${((n / stats.frames) * 100).toFixed(2)} %`;
  const dir = finishRun({
    scenario: 'fuzz',
    startedAt,
    machine,
    argv,
    flags,
    config: cfg,
    figures: { frames: stats.frames, runs, elapsedSec: elapsed, framesPerSec, failed, failures, outcomes, bySource, loadAvg1mEnd: loadEnd },
    tables: [
      {
        title: `Fuzz: ${fmt(stats.frames)} frames in ${fmt(runs)} runs, ${elapsed.toFixed(1)} s, ${fmt(framesPerSec)} frames/s, ${failed} failed runs`,
        header: ['reply / outcome', 'frames', 'share'],
        rows: Object.entries(outcomes).map(([k, v]) => [k in ERROR_CODES ? `error ${k}` : k === 'none' ? 'none (typing dropped)' : k, v, pct(v)]),
      },
      { title: 'Frames by generator', header: ['source', 'frames', 'share'], rows: Object.entries(bySource).map(([k, v]) => [k, v, pct(v)]) },
    ],
    charts: [{ title: 'Frames per second (decode, session, reply encoding and checks)', xLabel: 's', yLabel: 'frames/s', series: [{ label: 'frames/s', points: timeline.length ? timeline : [[elapsed, framesPerSec]] }] }],
    notes: [
      `load average (1 min): ${machine.loadAvg1m} at the start, ${loadEnd} at the end (the box is shared: frames/s is noisy).`,
      failed === 0 ? 'No run failed: no decoder or session exception, every reply catalogued and decodable, the model and invariants held.' : `${failed} runs failed; the first ${failures.length} are in result.json (batch seed, run index, commands).`,
      `Reproduce: npm run bench -- fuzz --frames ${cfg.frames} --seed ${cfg.seed}${cfg.commands !== 100 ? ` --commands ${cfg.commands}` : ''}${cfg.batch !== 500 ? ` --batch ${cfg.batch}` : ''}`,
    ],
  });
  if (failed > 0) throw new Error(`${failed} fuzz runs failed (see above and ${dir}/result.json)`);
  return dir;
}
