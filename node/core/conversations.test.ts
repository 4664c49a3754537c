import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConversationCache, MAX_USER_CONVS } from './conversations.js';
import type { MessageStore } from '../store/store.js';
import type { Writer } from './chat_types.js';

/** A store that answers only the user index, counting its reads. */
function indexStore(): { store: MessageStore; reads: Map<string, number> } {
  const reads = new Map<string, number>();
  const store = {
    listUserConversations: async (user: string) => {
      reads.set(user, (reads.get(user) ?? 0) + 1);
      return [`c-${user}`];
    },
  } as unknown as MessageStore;
  return { store, reads };
}

describe('ConversationCache: the user -> conversations index', () => {
  it('is read once per user while cached, again after usersChanged', async () => {
    const { store, reads } = indexStore();
    const c = new ConversationCache(store, {} as Writer, null);
    assert.deepEqual(await c.conversationsOf('alice'), ['c-alice']);
    await c.conversationsOf('alice');
    assert.equal(reads.get('alice'), 1);
    c.usersChanged(['alice']);
    await c.conversationsOf('alice');
    assert.equal(reads.get('alice'), 2);
  });

  it('is bounded: past MAX_USER_CONVS users the least recently used is evicted and read again', async () => {
    const { store, reads } = indexStore();
    const c = new ConversationCache(store, {} as Writer, null);
    await c.conversationsOf('u0');
    for (let i = 1; i < MAX_USER_CONVS; i++) await c.conversationsOf(`u${i}`);
    await c.conversationsOf('u0'); // u0 is the most recent now; u1 the oldest
    await c.conversationsOf('new');
    await c.conversationsOf('u0');
    assert.equal(reads.get('u0'), 1, 'a recently used entry stays');
    await c.conversationsOf('u1');
    assert.equal(reads.get('u1'), 2, 'the least recently used was evicted');
  });
});
