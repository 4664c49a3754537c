import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceRegistry, ServiceUnavailableError } from './service_registry.js';

test('a service is found while published and unavailable before and after', () => {
  const reg = new ServiceRegistry<{ store: { name: string } }>();
  assert.throws(() => reg.get('store'), (e: unknown) => e instanceof ServiceUnavailableError && e.code === 'unavailable' && /store/.test(e.message));
  assert.equal(reg.peek('store'), null);
  const s = { name: 'a' };
  reg.provide('store', s);
  assert.equal(reg.get('store'), s);
  reg.withdraw('store');
  assert.equal(reg.peek('store'), null);
});

test('withdrawing a replaced service leaves its successor published', () => {
  const reg = new ServiceRegistry<{ chat: { gen: number } }>();
  const old = { gen: 1 };
  const next = { gen: 2 };
  reg.provide('chat', old);
  reg.provide('chat', next);
  reg.withdraw('chat', old);
  assert.equal(reg.get('chat'), next);
});
