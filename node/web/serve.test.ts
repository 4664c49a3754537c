/**
 * The web chat's HTTP routes on a real node: the page and its assets with their
 * content types, caching and CSP; dev sign-in only on the dev secret; nothing under
 * /web/ when web.enabled is false.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestNode } from '../e2e/harness.js';

test('web routes: page, hashed assets, CSP; dev sign-in only on the dev secret; off with web.enabled false', { timeout: 90_000 }, async () => {
  const dev = await TestNode.start({ config: { auth: { keys: [] } } });
  const keyed = await TestNode.start();
  const off = await TestNode.start({ config: { web: { enabled: false } } });
  try {
    const page = await fetch(`${dev.httpUrl}/web/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(page.headers.get('cache-control'), 'no-cache');
    const csp = page.headers.get('content-security-policy') ?? '';
    for (const d of ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "style-src 'self'"]) assert.ok(csp.includes(d), `CSP has ${d}: ${csp}`);
    // Beyond 'self', only the node's own media listener (uploads and images), on loopback.
    const media = /media: (http:\/\/127\.0\.0\.1:\d+)\/media\/v1\//.exec(dev.stdout)?.[1];
    assert.ok(media, 'the ready line names the media listener');
    assert.equal(csp, `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: ${media}; connect-src 'self' ${media}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`);
    const html = await page.text();
    const js = /src="\/web\/(app\.[0-9a-f]{12}\.js)"/.exec(html)?.[1];
    const css = /href="\/web\/(style\.[0-9a-f]{12}\.css)"/.exec(html)?.[1];
    assert.ok(js && css, 'the page names hashed assets');
    assert.doesNotMatch(html, /https?:\/\//, 'no absolute URL: nothing remote');
    const script = await fetch(`${dev.httpUrl}/web/${js}`);
    assert.equal(script.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal(script.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    const body = await script.text();
    assert.ok(body.length > 10_000 && body.includes('switchboard.v1'), 'the bundle carries the SDK');
    assert.doesNotMatch(body, /\b(import|from)\s*["']https?:/, 'no remote import');
    assert.equal((await fetch(`${dev.httpUrl}/web/${css}`)).headers.get('content-type'), 'text/css; charset=utf-8');
    assert.equal((await fetch(`${dev.httpUrl}/web/app.000000000000.js`)).status, 404);
    const redirect = await fetch(`${dev.httpUrl}/web`, { redirect: 'manual' });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get('location'), '/web/');

    const signin = (n: TestNode, body: unknown) => fetch(`${n.httpUrl}/web/dev-signin`, { method: 'POST', body: JSON.stringify(body) });
    const ok = await signin(dev, { user: 'alice', device: 'web-1' });
    assert.equal(ok.status, 201);
    const { token } = (await ok.json()) as { token: string };
    const ticket = await fetch(`${dev.httpUrl}/v1/tickets`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.equal(ticket.status, 201, 'the dev token is accepted by the node');
    assert.equal((await signin(dev, { user: 'not ok!', device: 'web-1' })).status, 400);
    const refused = await signin(keyed, { user: 'alice', device: 'web-1' });
    assert.equal(refused.status, 404, 'no dev sign-in on a node with auth.keys');
    assert.match(((await refused.json()) as { message: string }).message, /auth\.keys/);

    assert.equal((await fetch(`${off.httpUrl}/web/`)).status, 404, 'web.enabled false: no page');
    assert.doesNotMatch(off.stdout, /Web chat:/);
  } finally {
    for (const n of [dev, keyed, off]) {
      await n.stop();
      n.cleanup();
    }
  }
});
