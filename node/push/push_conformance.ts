/**
 * The PushStore conformance suite: every backend runs these same cases.
 *
 *   runPushStoreConformance('sqlite', () => Promise.resolve(new SqlitePushStore(file)));
 *
 * Like node/store/conformance.ts: `open` returns a NEW handle on the SAME data each
 * call (the durability cases write through one handle, close it and read through
 * another); ids carry a random suffix so a shared keyspace needs no truncation.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { PushStore } from './push_store.js';
import type { OwedPush, PushRegistration, SendKey } from './types.js';

export function runPushStoreConformance(name: string, open: () => Promise<PushStore>): void {
  const withStore = async <T>(fn: (s: PushStore) => Promise<T>): Promise<T> => {
    const s = await open();
    try {
      return await fn(s);
    } finally {
      await s.close();
    }
  };
  const uid = (p: string): string => `${p}-${randomUUID().slice(0, 8)}`;
  const reg = (user: string, device: string, over: Partial<PushRegistration> = {}): PushRegistration => ({
    user,
    device,
    platform: 'apns',
    token: `tok-${randomUUID()}`,
    appId: 'com.example.chat',
    mode: 'wake',
    updatedAt: 1_700_000_000_000,
    ...over,
  });
  const sortRegs = (l: PushRegistration[]) => [...l].sort((a, b) => `${a.user}/${a.device}`.localeCompare(`${b.user}/${b.device}`));

  describe(`PushStore conformance: ${name}`, () => {
    describe('registrations', () => {
      it('registers, lists by user and replaces a re-registration of the same device', () =>
        withStore(async (s) => {
          const [bob, carol] = [uid('bob'), uid('carol')];
          const phone = reg(bob, 'phone');
          const laptop = reg(bob, 'laptop', { platform: 'webpush', token: '{"endpoint":"https://push.example/x","keys":{"p256dh":"k","auth":"a"}}', mode: 'preview' });
          const c = reg(carol, 'tab', { platform: 'fcm' });
          for (const r of [phone, laptop, c]) assert.equal(await s.register(r), 'ok');
          assert.deepEqual(sortRegs(await s.devicesOf([bob, carol, uid('nobody')])), sortRegs([phone, laptop, c]));
          const again = { ...phone, token: 'tok-new', mode: 'preview' as const, updatedAt: 1_700_000_000_500 };
          assert.equal(await s.register(again), 'ok');
          assert.deepEqual(sortRegs(await s.devicesOf([bob])), sortRegs([again, laptop]));
        }));

      it('unregisters one device and says whether there was one', () =>
        withStore(async (s) => {
          const bob = uid('bob');
          await s.register(reg(bob, 'phone'));
          const tab = reg(bob, 'tab');
          await s.register(tab);
          assert.equal(await s.unregister(bob, 'phone'), true);
          assert.equal(await s.unregister(bob, 'phone'), false);
          assert.deepEqual(await s.devicesOf([bob]), [tab]);
        }));

      it('a dead token is removed only where it is still the token, and is refused afterwards', () =>
        withStore(async (s) => {
          const bob = uid('bob');
          const old = reg(bob, 'phone');
          await s.register(old);
          const renewed = { ...old, token: `tok-${randomUUID()}` };
          await s.register(renewed);
          // The provider's answer for the old token arrives after the device re-registered.
          assert.equal(await s.removeDeadToken(bob, 'phone', old.token), false);
          assert.deepEqual(await s.devicesOf([bob]), [renewed]);
          assert.equal(await s.removeDeadToken(bob, 'phone', renewed.token), true);
          assert.deepEqual(await s.devicesOf([bob]), []);
          assert.equal(await s.register(renewed), 'dead_token', 'a dead token is never used again');
          assert.equal(await s.register({ ...renewed, user: uid('mallory') }), 'dead_token', 'by nobody');
          assert.equal(await s.register({ ...renewed, platform: 'fcm' }), 'ok', 'the same string on another platform is another token');
        }));

      it('registrations survive reopening', async () => {
        const bob = uid('bob');
        const r = reg(bob, 'phone', { platform: 'webhook', token: 'https://hooks.example/push' });
        await withStore((s) => s.register(r));
        assert.deepEqual(await withStore((s) => s.devicesOf([bob])), [r]);
      });
    });

    describe('mutes', () => {
      it('mutes per user and conversation until a time; 0 unmutes', () =>
        withStore(async (s) => {
          const [bob, carol, conv] = [uid('bob'), uid('carol'), uid('c')];
          await s.setMute(bob, conv, 5_000);
          await s.setMute(carol, uid('other'), 9_000);
          assert.deepEqual([...(await s.mutes([bob, carol], conv))], [[bob, 5_000]]);
          await s.setMute(bob, conv, 7_000);
          assert.deepEqual([...(await s.mutes([bob], conv))], [[bob, 7_000]]);
          await s.setMute(bob, conv, 0);
          assert.equal((await s.mutes([bob], conv)).size, 0);
        }));
    });

    describe('the owed-push outbox', () => {
      const owed = (shard: number, conversation: string, seq: number): OwedPush => ({
        shard,
        conversation,
        seq,
        messageId: `m-${conversation}-${seq}`,
        sender: 'alice',
        senderDevice: 'phone',
        owedAt: 1_700_000_000_000 + seq,
      });
      const key = (e: OwedPush) => `${e.conversation}/${e.seq}`;

      it('keeps owed pushes per shard until settled, idempotently, across reopening', async () => {
        const shard = 1000 + Math.floor(Math.random() * 1_000_000);
        const [c1, c2] = [uid('c'), uid('c')];
        const entries = [owed(shard, c1, 1), owed(shard, c1, 2), owed(shard, c2, 1), owed(shard + 1, c1, 3)];
        await withStore(async (s) => {
          await s.addOwed(entries);
          await s.addOwed([entries[0]]);
        });
        await withStore(async (s) => {
          assert.deepEqual((await s.owed(shard, 100)).map(key).sort(), [entries[0], entries[1], entries[2]].map(key).sort());
          assert.deepEqual(await s.owed(shard + 1, 100), [entries[3]]);
          assert.equal((await s.owed(shard, 2)).length, 2, 'limit');
          const full = (await s.owed(shard, 100)).find((e) => key(e) === key(entries[1]));
          assert.deepEqual(full, entries[1], 'every field as written');
          await s.settle([entries[0], entries[2]]);
          await s.settle([entries[0]]);
          assert.deepEqual((await s.owed(shard, 100)).map(key), [key(entries[1])]);
        });
      });
    });

    describe('send records', () => {
      const k = (seq: number, over: Partial<SendKey> = {}): SendKey => ({ user: 'bob', device: 'phone', conversation: uid('c'), seq, ...over });

      it('a claim is exclusive until sent; sent is final; lastSent is the highest sent seq', () =>
        withStore(async (s) => {
          const a = k(5);
          assert.deepEqual(await s.claimSend(a, 'node-1:boot-a'), { state: 'claimed' });
          assert.deepEqual(await s.claimSend(a, 'node-1:boot-a'), { state: 'claimed' }, 'the claimer itself may ask again');
          assert.deepEqual(await s.claimSend(a, 'node-2:boot-b'), { state: 'held', by: 'node-1:boot-a' });
          assert.equal(await s.lastSent(a.user, a.device, a.conversation), 0, 'a claim is not a send');
          await s.markSent(a);
          assert.deepEqual(await s.claimSend(a, 'node-2:boot-b'), { state: 'sent' });
          assert.equal(await s.lastSent(a.user, a.device, a.conversation), 5);
          const b = { ...a, seq: 9 };
          await s.claimSend(b, 'node-1:boot-a');
          assert.equal(await s.lastSent(a.user, a.device, a.conversation), 5, 'the unsent claim of 9 does not count');
          await s.markSent(b);
          await s.markSent({ ...a, seq: 7 });
          assert.equal(await s.lastSent(a.user, a.device, a.conversation), 9);
          assert.equal(await s.lastSent(a.user, 'other-device', a.conversation), 0);
        }));

      it('a held claim moves only from its holder, and never once sent', async () => {
        const a = k(3);
        await withStore((s) => s.claimSend(a, 'old'));
        await withStore(async (s) => {
          assert.equal(await s.takeOverClaim(a, 'someone-else', 'new'), false);
          assert.equal(await s.takeOverClaim(a, 'old', 'new'), true);
          assert.deepEqual(await s.claimSend(a, 'new'), { state: 'claimed' });
          assert.equal(await s.takeOverClaim(a, 'old', 'third'), false, 'already moved');
          await s.markSent(a);
          assert.equal(await s.takeOverClaim(a, 'new', 'third'), false, 'sent is final');
        });
      });
    });
  });
}
