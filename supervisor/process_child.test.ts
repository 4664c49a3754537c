/** Real child processes under a supervisor: crash -> restart, SIGTERM stop, SIGKILL after timeout. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { Supervisor } from './supervisor.js';
import { nodeProcessChild, processChild } from './process_child.js';
import { waitForReport } from './wait_for_report.js';
import type { SupervisorReport } from './reports.js';
import { ChildStartError } from './errors.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/test_process.ts', import.meta.url));

/** Start function for the fixture; `ready` resolves each time a spawned process prints `ready`. */
function fixture(mode: string, ...args: string[]) {
  const processes: ChildProcess[] = [];
  const readies: Promise<void>[] = [];
  const start = nodeProcessChild(FIXTURE, [mode, ...args], {
    spawnOptions: { stdio: ['ignore', 'pipe', 'inherit'] },
    onSpawn: (child) => {
      processes.push(child);
      readies.push(
        new Promise((resolve) => {
          child.stdout?.on('data', (chunk: Buffer) => {
            if (chunk.toString().includes('ready')) resolve();
          });
        }),
      );
    },
  });
  return { start, processes, readies };
}

test('a crashing child process is restarted with a new pid', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sup-proc-'));
  try {
    const f = fixture('crash_once', join(dir, 'marker'));
    const sup = new Supervisor({ name: 'host', log: () => {}, children: [{ id: 'proc', start: f.start }] });
    const exited = waitForReport(sup, (r) => r.kind === 'child_exited');
    const restarted = waitForReport(sup, (r) => r.kind === 'child_started' && r.restarts === 1);
    await sup.start();
    const report = await exited;
    assert.ok(report.kind === 'child_exited');
    assert.equal(report.reason.error?.name, 'ProcessExitError');
    assert.equal(report.reason.error?.details?.exitCode, 3);
    await restarted;
    const status = sup.whichChildren()[0];
    assert.equal(status.state, 'running');
    assert.equal(status.pid, f.processes[1].pid);
    assert.notEqual(f.processes[0].pid, f.processes[1].pid);
    await f.readies[1];
    await sup.stop();
    assert.equal(f.processes[1].signalCode, 'SIGTERM');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('stop sends SIGTERM; a process that dies of it is a clean shutdown', async () => {
  const f = fixture('stay');
  const sup = new Supervisor({ name: 'host', log: () => {}, children: [{ id: 'proc', start: f.start }] });
  const reports: SupervisorReport[] = [];
  sup.onReport((r) => reports.push(r));
  await sup.start();
  await f.readies[0];
  await sup.stop();
  assert.equal(f.processes[0].signalCode, 'SIGTERM');
  assert.deepEqual(reports.filter((r) => r.kind === 'shutdown_error'), []);
  assert.equal(sup.whichChildren()[0].lastExit, 'shutdown');
});

test('a process that ignores SIGTERM gets SIGKILL after its shutdown timeout', async () => {
  const f = fixture('ignore_term');
  const sup = new Supervisor({ name: 'host', log: () => {}, children: [{ id: 'proc', start: f.start, shutdown: 200 }] });
  const reports: SupervisorReport[] = [];
  sup.onReport((r) => reports.push(r));
  await sup.start();
  await f.readies[0];
  await sup.stop();
  assert.equal(f.processes[0].signalCode, 'SIGKILL');
  const errors = reports.filter((r) => r.kind === 'shutdown_error');
  assert.equal(errors.length, 1);
  assert.ok(errors[0].kind === 'shutdown_error' && errors[0].how === 'killed');
});

test('a command that cannot be spawned fails the start', async () => {
  const sup = new Supervisor({
    name: 'host',
    log: () => {},
    children: [{ id: 'ghost', start: processChild({ command: '/nonexistent/switchboard-ghost' }) }],
  });
  await assert.rejects(sup.start(), (e: unknown) => e instanceof ChildStartError && /ENOENT/.test(e.message));
});
