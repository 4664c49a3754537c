// The fakes as a child process (cli.ts via remote.ts): the `push` config it prints
// passes the node's own config validation, providers built from it reach every fake,
// and the control API reads records, scripts errors and takes a fake down.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RemotePushFakes } from './remote.js';
import { apnsDeviceToken } from './keys.js';
import { defaultConfig, merge, validateConfig } from '../../config.js';
import { buildPushProviders, closePushProviders, type PushProviders } from '../providers/index.js';
import type { PushDevice, PushRequest } from '../provider.js';

describe('push fakes in a child process', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-push-remote-'));
  let fakes: RemotePushFakes;
  let providers: PushProviders;
  before(async () => {
    fakes = await RemotePushFakes.spawn(dir);
    // The node validates it like any config file (credentials parsed, CA file read).
    const cfg = validateConfig(merge(defaultConfig(), { push: fakes.config }));
    providers = buildPushProviders(cfg.push);
  });
  after(async () => {
    await closePushProviders(providers);
    await fakes.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const req = (device: PushDevice): PushRequest => ({ device, conversation: 'c1', seq: 3, collapseId: 'c1', unread: 1, preview: null, expiresAt: Date.now() + 60_000 });
  const dev = (platform: PushDevice['platform'], token: string): PushDevice => ({ user: 'bob', device: platform, platform, token, appId: '', mode: 'wake' });

  it('every provider built from the printed config reaches its fake; the records say what arrived', async () => {
    const sub = await fakes.subscribe();
    const devices = [dev('apns', apnsDeviceToken()), dev('fcm', 'fcm-token-1'), dev('webpush', sub.token), dev('webhook', `${fakes.urls.webhook}/hooks/bob`)];
    for (const d of devices) assert.equal((await providers[d.platform]!.send(req(d))).kind, 'sent', d.platform);
    const apns = await fakes.records('apns');
    assert.equal(apns.length, 1);
    assert.equal(apns[0].path, `/3/device/${devices[0].token}`);
    assert.equal((await fakes.records('fcm')).filter((r) => r.path === '/token').length, 1);
    const wp = await fakes.records('webpush');
    assert.deepEqual(wp[0].body, { v: 1, kind: 'wake', conversation: 'c1', seq: 3, unread: 1 });
    assert.equal((await fakes.records('webhook'))[0].status, 200);
    assert.equal((await fakes.apnsTokens()).length, 1);
  });

  it('scripted answers and a fake taken down over the control API', async () => {
    const d = dev('apns', apnsDeviceToken());
    await fakes.script('apns', d.token, { status: 410, reason: 'Unregistered' });
    assert.equal((await providers.apns!.send(req(d))).kind, 'unregistered');
    await fakes.setDown('fcm', true);
    const out = await providers.fcm!.send(req(dev('fcm', 'fcm-token-2')));
    assert.deepEqual([out.kind, out.status], ['retry', 0]);
    await fakes.setDown('fcm', false);
    assert.equal((await providers.fcm!.send(req(dev('fcm', 'fcm-token-2')))).kind, 'sent');
    await fakes.clear('webhook');
    assert.equal((await fakes.records('webhook')).length, 0);
  });
});
