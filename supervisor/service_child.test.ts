/** In-thread services: death signalled through ctx.exit, clean stop, stop timeout abandons. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from './manual_clock.js';
import { serviceChild, type Service, type ServiceContext } from './service_child.js';
import { Supervisor } from './supervisor.js';
import type { SupervisorReport } from './reports.js';
import { ChildStartError } from './errors.js';

class Recorder implements Service {
  static all: Recorder[] = [];
  ctx: ServiceContext | undefined;
  log: string[] = [];
  constructor(private readonly behaviour: { hangOnStop?: boolean; failStart?: boolean; failStop?: boolean } = {}) {
    Recorder.all.push(this);
  }
  async start(ctx: ServiceContext): Promise<void> {
    if (this.behaviour.failStart) throw new Error('port in use');
    this.ctx = ctx;
    this.log.push('start');
  }
  stop(deadlineMs: number): Promise<void> {
    this.log.push(`stop(${deadlineMs})`);
    if (this.behaviour.hangOnStop) return new Promise(() => {});
    if (this.behaviour.failStop) return Promise.reject(new Error('flush failed'));
    return Promise.resolve();
  }
  kill(): void {
    this.log.push('kill');
  }
}

function make(factory: () => Service, shutdown: number = 1000) {
  Recorder.all = [];
  const clock = new ManualClock();
  const sup = new Supervisor({ name: 'host', clock, log: () => {}, children: [{ id: 'svc', start: serviceChild(factory), shutdown }] });
  const reports: SupervisorReport[] = [];
  sup.onReport((r) => reports.push(r));
  return { sup, clock, reports };
}

test('a service that reports its death is restarted as a fresh instance', async () => {
  const { sup, reports } = make(() => new Recorder());
  await sup.start();
  Recorder.all[0].ctx?.exit(new Error('lost connection'));
  await sup.idle();
  assert.equal(Recorder.all.length, 2);
  assert.deepEqual(Recorder.all[1].log, ['start']);
  const exit = reports.find((r) => r.kind === 'child_exited');
  assert.ok(exit?.kind === 'child_exited' && exit.reason.error?.name === 'ServiceFailedError');
  assert.match(exit.reason.summary, /service 'svc' died: lost connection/);
  assert.equal(Recorder.all[1].ctx?.supervisor, 'host');
});

test('stop passes the deadline and a clean stop is a clean shutdown', async () => {
  const { sup, reports } = make(() => new Recorder(), 750);
  await sup.start();
  await sup.stop();
  assert.deepEqual(Recorder.all[0].log, ['start', 'stop(750)']);
  assert.deepEqual(reports.filter((r) => r.kind === 'shutdown_error'), []);
});

test('a service whose stop hangs is killed (abandoned) when the timeout passes', async () => {
  const { sup, clock, reports } = make(() => new Recorder({ hangOnStop: true }), 500);
  await sup.start();
  const stopping = sup.stop();
  await new Promise((resolve) => setImmediate(resolve));
  clock.advance(500);
  await stopping;
  assert.deepEqual(Recorder.all[0].log, ['start', 'stop(500)', 'kill']);
  assert.ok(reports.some((r) => r.kind === 'shutdown_error' && r.how === 'killed'));
});

test('a failing stop is reported as a shutdown error', async () => {
  const { sup, reports } = make(() => new Recorder({ failStop: true }));
  await sup.start();
  await sup.stop();
  const error = reports.find((r) => r.kind === 'shutdown_error');
  assert.ok(error?.kind === 'shutdown_error' && error.how === 'stopped' && /flush failed/.test(error.reason.summary));
});

test('a service that fails to start fails the supervisor start', async () => {
  const { sup } = make(() => new Recorder({ failStart: true }));
  await assert.rejects(sup.start(), (e: unknown) => e instanceof ChildStartError && /port in use/.test(e.message));
});
