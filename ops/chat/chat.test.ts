/**
 * The terminal client in tmux, as a person would use it: two tmux sessions (alice,
 * bob) on a private tmux server, keys typed with `send-keys`, the screen read with
 * `capture-pane -p`, against a real node on its dev secret (the client mints its token
 * from `--data-dir`, like `npm run token`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestNode, sleep } from '../../node/e2e/harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SOCKET = `sb-chat-test-${process.pid}`;
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
}

function screen(session: string): string {
  return tmux('capture-pane', '-p', '-J', '-S', '-200', '-t', session);
}

function type(session: string, text: string, enter = true): void {
  tmux('send-keys', '-t', session, '-l', text);
  if (enter) tmux('send-keys', '-t', session, 'Enter');
}

async function see(session: string, re: RegExp, timeoutMs = 20_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = screen(session);
    if (re.test(s)) return s;
    if (Date.now() > end) throw new Error(`${session}: timed out waiting for ${re}; screen:\n${s}`);
    await sleep(100);
  }
}

test('terminal client in tmux: two users chat with ticks, typing and presence', { timeout: 120_000 }, async () => {
  const node = await TestNode.start({ config: { auth: { keys: [] } } });
  const png = path.join(node.dataDir, 'dot.png');
  writeFileSync(png, PNG);
  try {
    for (const user of ['alice', 'bob']) {
      const cmd = [process.execPath, '--import', 'tsx', 'ops/chat/cli.ts', '--user', user, '--url', node.url, '--data-dir', node.dataDir].map((a) => `'${a}'`).join(' ');
      tmux('new-session', '-d', '-s', user, '-x', '120', '-y', '50', '-c', ROOT, cmd);
    }
    await see('alice', /\* online/);
    await see('bob', /\* online/);

    type('alice', '/open bob');
    await see('alice', /--- bob ---/);
    await see('alice', /\* bob is online/);
    type('alice', 'hello from tmux');
    await see('alice', /#1 \d\d:\d\d you: hello from tmux {2}✓ sent/);
    // bob's client holds it (✓✓) and prints it; he has not opened the chat yet.
    await see('bob', /\[alice\] #1 \d\d:\d\d alice: hello from tmux/);
    await see('alice', /#1 ✓✓ delivered/);
    type('bob', '/open alice');
    await see('alice', /#1 ✓✓ read \(blue\)/);
    const a = screen('alice');
    assert.ok(a.indexOf('✓ sent') < a.indexOf('✓✓ delivered') && a.indexOf('✓✓ delivered') < a.indexOf('✓✓ read'), `ticks in order:\n${a}`);

    type('bob', 'typing something', false);
    await see('alice', /\* bob is typing…/);
    tmux('send-keys', '-t', 'bob', 'Enter');
    await see('alice', /#2 \d\d:\d\d bob: typing something/);

    // An attachment: a 1×1 PNG from a file.
    type('alice', `/file ${png} a dot`);
    await see('bob', /#3 \d\d:\d\d alice: \[attachment: image\/png, 70 bytes, 1×1; \/url 3\] a dot/);
    type('bob', '/url 3');
    const url = /(http:\/\/127\.0\.0\.1:\d+\/media\/v1\/files\/\S+)/.exec(await see('bob', /http:\/\/127\.0\.0\.1:\d+\/media\/v1\/files\//))![1];
    assert.deepEqual(Buffer.from(await (await fetch(url)).arrayBuffer()), PNG, 'the URL serves the bytes');

    type('alice', '/group crew bob');
    await see('alice', /#1 \d\d:\d\d \* alice created the group "crew"/);
    await see('bob', /\[group "crew"\] #1 \d\d:\d\d \* alice created the group "crew"/);

    type('bob', '/quit');
    await see('alice', /\* bob is offline/, 30_000);
    console.log(`# alice's screen at the end:\n${screen('alice').trimEnd().replace(/^/gm, '#   ')}`);
  } finally {
    try {
      tmux('kill-server');
    } catch {
      /* already gone */
    }
    await node.stop();
    node.cleanup();
  }
});
