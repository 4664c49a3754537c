/**
 * The cooperative stop protocol with a real uWebSockets.js thread: the thread closes its
 * sockets on `$sup:stop` and ends by itself, so the host process survives. (If the
 * adapter terminated it instead, the whole test process would abort with SIGABRT.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Supervisor } from './supervisor.js';
import { threadChild } from './thread_child.js';
import type { SupervisorReport } from './reports.js';

test('a uWS thread with a live client socket stops cooperatively and the host survives', async () => {
  const events: { event: string; port?: number; open?: number }[] = [];
  let listening!: (port: number) => void;
  const portKnown = new Promise<number>((resolve) => (listening = resolve));
  const sup = new Supervisor({
    name: 'host',
    log: () => {},
    children: [
      {
        id: 'shard-0',
        shutdown: 10_000,
        start: threadChild({
          entry: new URL('./fixtures/uws_thread.ts', import.meta.url),
          awaitReady: true,
          onMessage: (m) => {
            const message = m as { event: string; port?: number; open?: number };
            events.push(message);
            if (message.event === 'listening' && message.port !== undefined) listening(message.port);
          },
        }),
      },
    ],
  });
  const reports: SupervisorReport[] = [];
  sup.onReport((r) => reports.push(r));
  await sup.start();
  const client = new WebSocket(`ws://127.0.0.1:${await portKnown}/`);
  await new Promise((resolve, reject) => {
    client.once('open', resolve);
    client.once('error', reject);
  });
  const closed = new Promise<number>((resolve) => client.once('close', (code) => resolve(code)));
  await sup.stop();
  assert.deepEqual(events.find((e) => e.event === 'stopping'), { event: 'stopping', open: 1 });
  assert.equal(await closed, 1001);
  assert.deepEqual(reports.filter((r) => r.kind === 'shutdown_error'), []);
  assert.equal(sup.whichChildren()[0].lastExit, 'shutdown');
});
