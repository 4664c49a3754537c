/**
 * The web chat in a real Chromium (Debian's `chromium`, installed by
 * ops/chromium/ensure-deps.sh; driven by playwright-core, which downloads no browser),
 * against a real node started on the dev secret, as after `npm start`:
 *
 *   two browser contexts sign in as alice and bob and chat: ✓, ✓✓ and blue appear in
 *   that order, typing and presence show; bob's page is closed, alice sends, bob comes
 *   back and sees every message exactly once, in order; alice's socket is cut, she
 *   sends, reloads (the message is still pending: the outbox is in IndexedDB), the
 *   network returns and the message goes out once; an image attachment shows on the
 *   other page; a group is created.
 *
 * Screenshots go to results/web-chat/ (git-ignored).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { chromium, type Browser, type Page } from 'playwright-core';
import { TestNode } from '../e2e/harness.js';

const SHOTS = new URL('../../results/web-chat/', import.meta.url).pathname;
// A 1×1 PNG for the attachment step.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

async function signIn(page: Page, url: string, user: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel('User id', { exact: true }).fill(user);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await online(page);
}

/** The banner says online (it is hidden then, and carries the SDK status). */
async function online(page: Page): Promise<void> {
  await page.waitForSelector('#banner[data-status="online"]', { state: 'attached', timeout: 20_000 });
}

/**
 * Record every data-tick value the message with this body shows, in order. A string,
 * not a function: tsx's keepNames would put a `__name` helper into a serialized
 * function that the page does not have.
 */
async function watchTicks(page: Page, body: string): Promise<void> {
  await page.evaluate(`(() => {
    const b = ${JSON.stringify(body)};
    window.__ticks = window.__ticks || {};
    const log = (window.__ticks[b] = []);
    const look = () => {
      for (const li of document.querySelectorAll('#messages li')) {
        const el = li.querySelector('.body');
        if (!el || el.textContent !== b) continue;
        const t = li.dataset.tick || '';
        if (t && log[log.length - 1] !== t) log.push(t);
      }
    };
    new MutationObserver(look).observe(document.getElementById('messages'), { subtree: true, childList: true, attributes: true });
    look();
  })()`);
}

async function ticksOf(page: Page, body: string): Promise<string[]> {
  return (await page.evaluate(`window.__ticks[${JSON.stringify(body)}]`)) as string[];
}

async function bodies(page: Page): Promise<string[]> {
  return page.locator('#messages li:not(.system) .body').allTextContents();
}

async function waitFor(what: string, fn: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('web chat in Chromium: ticks in order, typing, presence, offline catch-up exactly once, outbox survives a reload', { timeout: 180_000 }, async () => {
  mkdirSync(SHOTS, { recursive: true });
  const version = execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).trim();
  // No auth.keys: the node runs on its dev secret, as `npm start` does, so the page can sign in.
  const node = await TestNode.start({ config: { auth: { keys: [] }, limits: { presenceOfflineDebounceMs: 1000 } } });
  const web = `${node.httpUrl}/web/`;
  // The node prints the page's URL right after its ready line.
  await waitFor('the Web chat line', async () => node.stdout.includes(`Web chat: ${web}\n`), 5_000);
  let browser: Browser | null = null;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
    console.log(`# ${version}, playwright-core driving it; screenshots in ${SHOTS}`);
    const ctxA = await browser.newContext({ viewport: { width: 1000, height: 640 } });
    const ctxB = await browser.newContext({ viewport: { width: 1000, height: 640 } });
    const a = await ctxA.newPage();
    let b = await ctxB.newPage();
    const errors: string[] = [];
    for (const p of [a, b]) p.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await signIn(a, web, 'alice');
    await signIn(b, web, 'bob');

    // alice opens the chat with bob: bob is online.
    await a.getByLabel('Chat with user', { exact: true }).fill('bob');
    await a.getByRole('button', { name: 'Open' }).click();
    await a.waitForSelector('#conv-title:text("bob")');
    await waitFor('bob online in alice\'s header', async () => (await a.locator('#conv-presence').textContent()) === 'online');

    // ✓ → ✓✓ (bob's device has it; he is not looking) → blue (he opens the chat).
    await watchTicks(a, 'hello bob');
    await a.getByLabel('Message', { exact: true }).fill('hello bob');
    await a.getByLabel('Message', { exact: true }).press('Enter');
    await waitFor('✓✓ on alice\'s message', async () => (await ticksOf(a, 'hello bob')).includes('delivered'));
    await a.screenshot({ path: `${SHOTS}1-alice-delivered.png` });
    await b.getByRole('button', { name: /Chat with alice/ }).click();
    await waitFor('blue ticks', async () => (await ticksOf(a, 'hello bob')).includes('read'));
    const seen = (await ticksOf(a, 'hello bob')).filter((t) => t !== 'pending');
    assert.deepEqual(seen, ['sent', 'delivered', 'read'], `ticks in order: ${seen.join(' → ')}`);
    assert.equal(await a.locator('#messages li[data-tick="read"] .tick.read').count(), 1, 'the read tick is the blue one');

    // Typing: bob types, alice sees it.
    await b.getByLabel('Message', { exact: true }).pressSequentially('typing…', { delay: 30 });
    await waitFor('bob is typing', async () => ((await a.locator('#typing').textContent()) ?? '').includes('bob is typing'));
    await a.screenshot({ path: `${SHOTS}2-alice-sees-typing.png` });
    await b.getByLabel('Message', { exact: true }).fill('hi alice');
    await b.getByLabel('Message', { exact: true }).press('Enter');
    await waitFor('alice gets bob\'s reply', async () => (await bodies(a)).includes('hi alice'));
    await b.screenshot({ path: `${SHOTS}3-bob-chat.png` });

    // bob goes away (his page closes): alice sees him offline, then sends three.
    await b.close();
    await waitFor('bob offline for alice', async () => ((await a.locator('#conv-presence').textContent()) ?? '').startsWith('last seen'));
    for (const m of ['while you were away 1', 'while you were away 2', 'while you were away 3']) {
      await a.getByLabel('Message', { exact: true }).fill(m);
      await a.getByLabel('Message', { exact: true }).press('Enter');
    }
    await waitFor('the three acked', async () => (await a.locator('#messages li[data-tick="sent"]').count()) === 3);
    await a.screenshot({ path: `${SHOTS}4-alice-sent-while-bob-away.png` });

    // bob comes back (a new tab in the same browser profile: same device, same IndexedDB).
    b = await ctxB.newPage();
    b.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await signIn(b, web, 'bob');
    await b.getByRole('button', { name: /Chat with alice/ }).click();
    const expected = ['hello bob', 'hi alice', 'while you were away 1', 'while you were away 2', 'while you were away 3'];
    await waitFor('bob has everything', async () => (await bodies(b)).length >= expected.length);
    assert.deepEqual(await bodies(b), expected, 'bob sees every message once, in order');
    await waitFor('alice sees them read', async () => (await a.locator('#messages li[data-tick="read"]').count()) === 4);
    await b.screenshot({ path: `${SHOTS}5-bob-back.png` });

    // The browser reports the network gone: the banner says offline at once; back: online.
    await ctxA.setOffline(true);
    await waitFor('offline banner', async () => (await a.locator('#banner').getAttribute('data-status')) === 'offline' && (await a.locator('#banner').isVisible()));
    await a.screenshot({ path: `${SHOTS}6a-alice-offline-banner.png` });
    await ctxA.setOffline(false);
    await online(a);

    // alice's network fails (every WebSocket is cut at once), she sends, reloads: the
    // message is still pending (IndexedDB). The network returns: it goes out, once.
    let networkDown = true;
    await a.routeWebSocket(/\/v1\/ws/, (ws) => {
      if (networkDown) void ws.close({ code: 4000, reason: 'test: network down' });
      else ws.connectToServer();
    });
    await a.reload();
    await waitFor('alice offline banner', async () => (await a.locator('#banner').getAttribute('data-status')) !== 'online' && (await a.locator('#banner').isVisible()));
    await a.getByRole('button', { name: /Chat with bob/ }).click();
    await a.getByLabel('Message', { exact: true }).fill('sent while offline');
    await a.getByLabel('Message', { exact: true }).press('Enter');
    await a.waitForSelector('#messages li[data-tick="pending"]');
    await a.screenshot({ path: `${SHOTS}6-alice-offline-pending.png` });
    await a.reload();
    await a.getByRole('button', { name: /Chat with bob/ }).click();
    await a.waitForSelector('#messages li[data-tick="pending"] .body:text("sent while offline")', { timeout: 10_000 });
    networkDown = false;
    await online(a);
    await waitFor('bob gets the offline message', async () => (await bodies(b)).includes('sent while offline'), 30_000);
    await waitFor('acked on alice', async () => (await a.locator('#messages li[data-tick="pending"]').count()) === 0);
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(await bodies(b), [...expected, 'sent while offline'], 'bob has it exactly once');
    assert.deepEqual(await bodies(a), [...expected, 'sent while offline'], 'alice has the same, in the same order');
    await a.screenshot({ path: `${SHOTS}7-alice-back-online.png` });
    await b.screenshot({ path: `${SHOTS}8-bob-final.png` });

    // An image attachment: uploaded to the node's media listener, shown on bob's page.
    await a.getByLabel('Attach image').setInputFiles({ name: 'dot.png', mimeType: 'image/png', buffer: PNG });
    await waitFor('bob sees the image, loaded', async () => (await b.evaluate(`(() => { const i = document.querySelector('#messages img'); return !!i && i.complete && i.naturalWidth === 1; })()`)) === true);
    assert.equal(await b.locator('#messages img').getAttribute('alt'), 'image from alice (1×1)');
    await waitFor('the image acked on alice', async () => (await a.locator('#messages li[data-tick="pending"]').count()) === 0);
    await b.screenshot({ path: `${SHOTS}8a-bob-image.png` });

    // A group, created from the page.
    await a.getByText('New group').click();
    await a.getByLabel('Group name', { exact: true }).fill('weekend');
    await a.getByLabel('Members (comma-separated user ids)').fill('bob');
    await a.getByRole('button', { name: 'Create group' }).click();
    await a.waitForSelector('#conv-title:text("weekend")');
    await a.waitForSelector('#messages li.system:text("alice created the group")');
    await waitFor('bob sees the group', async () => (await b.getByRole('button', { name: /Group weekend/ }).count()) === 1);
    await a.screenshot({ path: `${SHOTS}9-alice-group.png` });
    assert.deepEqual(errors.filter((e) => !/WebSocket|ERR_|4000/.test(e)), [], 'no script errors in either page');
  } finally {
    await browser?.close();
    await node.stop();
    node.cleanup();
  }
});
