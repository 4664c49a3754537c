/**
 * History paging in the web chat, in a real Chromium: a conversation of 520 messages
 * (sent through the HTTP API) opened on a new device and reloaded: the device stored
 * the newest 500 (the SDK's KEEP_MESSAGES), the page offers "Load older messages", and
 * a click pages the rest in from history, in order, each once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { TestNode } from '../e2e/harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Runs in the page (a function, not a string: the page's CSP forbids eval): are `n` messages shown? */
const shown = (n: number): boolean =>
  (globalThis as unknown as { document: { querySelectorAll(sel: string): { length: number } } }).document.querySelectorAll('#messages li').length === n;

const SHOTS = new URL('../../results/web-chat/', import.meta.url).pathname;
const N = 520;
const FAST = 100_000; // the per-conversation send buckets are not what this test is about

test('web chat pages older messages in with "Load older messages"', { timeout: 180_000 }, async () => {
  const node = await TestNode.start({
    config: {
      auth: { keys: [] },
      limits: { conversationSendRatePerSec: FAST, conversationSendBurst: FAST, conversationSenderRatePerSec: FAST, conversationSenderBurst: FAST },
    },
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
  try {
    const d = await node.api('POST', '/v1/conversations/direct', { users: ['bob', 'alice'] });
    assert.equal(d.status, 200);
    for (let i = 1; i <= N; i++) {
      const r = await node.api('POST', '/v1/messages', { conversation: d.body.conversation, sender: 'bob', client_msg_id: `h-${i}`, body: `message ${i}` });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${node.httpUrl}/web/`);
    await page.getByLabel('User id', { exact: true }).fill('alice');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: /Chat with bob/ }).click();
    const bodies = (): Promise<string[]> => page.locator('#messages li .body').allTextContents();
    // This run synced all of them; the device stores the newest 500.
    await page.waitForFunction(shown, N, { timeout: 30_000 });
    await page.reload();
    await page.getByRole('button', { name: /Chat with bob/ }).click();
    const older = page.getByRole('button', { name: 'Load older messages' });
    await older.waitFor({ state: 'visible', timeout: 30_000 });
    const before = await bodies();
    assert.equal(before.length, 500, 'the newest 500 are kept');
    assert.equal(before[0], `message ${N - 499}`);
    await older.click();
    await page.waitForFunction(shown, N);
    assert.deepEqual(await bodies(), Array.from({ length: N }, (_, i) => `message ${i + 1}`), 'all of them, in order, once');
    await older.waitFor({ state: 'hidden' });
    await page.locator('#messages').evaluate((el) => (el.scrollTop = 0));
    await page.screenshot({ path: `${SHOTS}10-alice-history-paged.png` });
  } finally {
    await browser.close();
    await node.stop();
    node.cleanup();
  }
});
