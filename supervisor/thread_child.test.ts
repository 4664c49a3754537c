/** Real worker threads under a supervisor: crash -> restart, cooperative stop, forced kill, hung. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Worker } from 'node:worker_threads';
import { Supervisor } from './supervisor.js';
import { threadChild, type ThreadChildOptions } from './thread_child.js';
import { waitForReport } from './wait_for_report.js';
import type { SupervisorReport } from './reports.js';
import { ChildStartError, SupervisorGaveUpError } from './errors.js';

const FIXTURE = new URL('./fixtures/test_thread.ts', import.meta.url);

function shard(mode: string, extra: Partial<ThreadChildOptions> = {}) {
  const workers: Worker[] = [];
  const events: string[] = [];
  /** Threads the adapter called terminate() on (the forced kill). */
  const terminated: Worker[] = [];
  const start = threadChild({
    entry: FIXTURE,
    workerData: { mode },
    awaitReady: true,
    onSpawn: (w) => {
      workers.push(w);
      const terminate = w.terminate.bind(w);
      w.terminate = () => {
        terminated.push(w);
        return terminate();
      };
    },
    onMessage: (m) => events.push((m as { event: string }).event),
    ...extra,
  });
  return { start, workers, events, terminated };
}

function collect(sup: Supervisor): SupervisorReport[] {
  const reports: SupervisorReport[] = [];
  sup.onReport((r) => reports.push(r));
  return reports;
}

test('a crashing worker thread is restarted as a new thread', async () => {
  const s = shard('well_behaved');
  const sup = new Supervisor({ name: 'host', log: () => {}, children: [{ id: 'shard-0', start: s.start }] });
  await sup.start();
  const firstThread = sup.whichChildren()[0].threadId;
  assert.equal(typeof firstThread, 'number');
  const restarted = waitForReport(sup, (r) => r.kind === 'child_started' && r.restarts === 1);
  const exited = waitForReport(sup, (r) => r.kind === 'child_exited');
  s.workers[0].postMessage({ cmd: 'crash' });
  const report = await exited;
  assert.ok(report.kind === 'child_exited');
  assert.equal(report.reason.kind, 'error');
  assert.equal(report.reason.error?.name, 'ThreadExitError');
  assert.match(report.reason.error?.message ?? '', /thread crashed on command/);
  await restarted;
  const status = sup.whichChildren()[0];
  assert.equal(status.state, 'running');
  assert.notEqual(status.threadId, firstThread);
  await sup.stop();
});

test('stop asks the thread first; a thread that closes up exits by itself and is not terminated', async () => {
  const s = shard('well_behaved');
  const sup = new Supervisor({ name: 'host', log: () => {}, children: [{ id: 'shard-0', start: s.start, shutdown: 10_000 }] });
  const reports = collect(sup);
  await sup.start();
  await sup.stop();
  assert.deepEqual(s.events, ['stopping']);
  assert.deepEqual(s.terminated, []);
  assert.deepEqual(reports.filter((r) => r.kind === 'shutdown_error'), []);
  assert.equal(sup.whichChildren()[0].lastExit, 'shutdown');
});

test('a thread that does not stop in time is terminated (forced kill) and reported', async () => {
  const s = shard('ignore_stop');
  const sup = new Supervisor({ name: 'host', log: () => {}, children: [{ id: 'shard-0', start: s.start, shutdown: 100 }] });
  const reports = collect(sup);
  await sup.start();
  await sup.stop();
  assert.deepEqual(s.events, ['stopping']);
  assert.deepEqual(s.terminated, [s.workers[0]]);
  const errors = reports.filter((r) => r.kind === 'shutdown_error');
  assert.equal(errors.length, 1);
  assert.ok(errors[0].kind === 'shutdown_error' && errors[0].how === 'killed');
});

test('a thread that exits 0 by itself is a normal exit (a transient one stays stopped)', async () => {
  const s = shard('well_behaved');
  const sup = new Supervisor({ name: 'host', log: () => {}, children: [{ id: 't', start: s.start, restart: 'transient' }] });
  await sup.start();
  const exited = waitForReport(sup, (r) => r.kind === 'child_exited');
  s.workers[0].postMessage({ cmd: 'exit0' });
  const report = await exited;
  assert.ok(report.kind === 'child_exited' && report.reason.kind === 'normal' && report.action === 'keep');
  await sup.idle();
  assert.equal(sup.whichChildren()[0].state, 'stopped');
  await sup.stop();
});

test('a hung thread (no heartbeat reply) escalates to the top with reason hung and is not terminated', async () => {
  const s = shard('well_behaved', { heartbeat: { intervalMs: 10, timeoutMs: 300 } });
  const sup = new Supervisor({ name: 'host', log: () => {}, intensity: 100, children: [{ id: 'shard-0', start: s.start }] });
  await sup.start();
  s.workers[0].postMessage({ cmd: 'hang' });
  const reason = await sup.exited;
  try {
    assert.equal(reason.kind, 'hung');
    assert.ok(reason.kind === 'hung' && reason.error instanceof SupervisorGaveUpError);
    assert.equal((reason.error.cause as Error).name, 'ChildHungError');
    assert.equal(sup.whichChildren()[0].state, 'hung');
    assert.equal(s.workers.length, 1, 'not restarted');
    assert.deepEqual(s.terminated, [], 'the hung thread was abandoned, not terminated');
  } finally {
    // This thread holds no uWS sockets, so the test may reclaim it.
    await s.workers[0].terminate();
  }
});

test("onHung 'terminate' terminates a hung thread and restarts it like a crash", async () => {
  const s = shard('well_behaved', { heartbeat: { intervalMs: 10, timeoutMs: 300 }, onHung: 'terminate' });
  const sup = new Supervisor({ name: 'host', log: () => {}, children: [{ id: 'shard-0', start: s.start }] });
  await sup.start();
  const exited = waitForReport(sup, (r) => r.kind === 'child_exited');
  const restarted = waitForReport(sup, (r) => r.kind === 'child_started' && r.restarts === 1);
  s.workers[0].postMessage({ cmd: 'hang' });
  const report = await exited;
  assert.ok(report.kind === 'child_exited' && report.reason.error?.name === 'ChildHungError');
  await restarted;
  await sup.stop();
  assert.equal(s.workers.length, 2);
});

test('a thread that throws while booting fails the start with the error', async () => {
  const s = shard('throw_at_boot');
  const sup = new Supervisor({ name: 'host', log: () => {}, children: [{ id: 'shard-0', start: s.start }] });
  await assert.rejects(
    sup.start(),
    (e: unknown) => e instanceof ChildStartError && e.childId === 'shard-0' && /boot failure/.test(e.message),
  );
});

test('a .mjs entry starts without the tsx bootstrap; exit code 7 is a crash', async () => {
  const workers: Worker[] = [];
  const start = threadChild({ entry: new URL('./fixtures/plain_thread.mjs', import.meta.url), onSpawn: (w) => workers.push(w) });
  const sup = new Supervisor({ name: 'host', log: () => {}, children: [{ id: 'js', start, restart: 'temporary' }] });
  await sup.start();
  const exited = waitForReport(sup, (r) => r.kind === 'child_exited');
  workers[0].postMessage({ cmd: 'exit7' });
  const report = await exited;
  assert.ok(report.kind === 'child_exited' && report.action === 'delete');
  assert.equal(report.reason.error?.name, 'ThreadExitError');
  assert.equal(report.reason.error?.details?.exitCode, 7);
  await sup.stop();
});
