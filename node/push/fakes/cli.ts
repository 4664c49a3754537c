/**
 * Runs the four fake provider servers as their own process, for tests that start
 * nodes as processes:
 *
 *   node --import tsx node/push/fakes/cli.ts --dir DIR [--control-port N] [--parent-pipe]
 *
 * Prints one JSON line on stdout when ready:
 *   {"ready":true,"control":"http://127.0.0.1:P","urls":{"apns":...,"fcm":...,"webpush":...,"webhook":...},
 *    "push":{apns:{...},fcm:{...},webpush:{...},webhook:{...}}}
 * where `push` is the config section to give the node (it holds test keys generated
 * for this run). The control API (control.ts) drives the fakes. Exits on SIGTERM or
 * SIGINT and, with --parent-pipe, when its stdin closes (the parent died).
 * remote.ts spawns it and wraps the control API.
 */
import { mkdirSync } from 'node:fs';
import { startControl } from './control.js';
import { startPushFakes } from './fake_set.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const dir = arg('--dir');
  if (!dir) {
    process.stderr.write('usage: cli.ts --dir DIR [--control-port N] [--parent-pipe]\n');
    process.exit(2);
  }
  mkdirSync(dir, { recursive: true });
  const fakes = await startPushFakes({ dir });
  const control = await startControl(fakes, Number(arg('--control-port') ?? 0));
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await control.close();
    await fakes.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  if (process.argv.includes('--parent-pipe')) {
    process.stdin.on('end', () => void stop());
    process.stdin.resume();
  }
  const urls = { apns: fakes.apns.url, fcm: fakes.fcm.url, webpush: fakes.webpush.url, webhook: fakes.webhook.url };
  process.stdout.write(JSON.stringify({ ready: true, control: control.url, urls, push: fakes.config }) + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`push fakes: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
