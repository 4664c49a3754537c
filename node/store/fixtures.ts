/** Test data builders shared by the store suites and the store-specific tests. */
import type { Conversation, StoredMessage, WriteOp } from './types.js';
import type { MessageStore } from './store.js';

/** A message op with predictable fields derived from its seq. */
export function msgOp(conversation: string, seq: number, over: Partial<StoredMessage> = {}): WriteOp {
  return {
    kind: 'message',
    message: {
      conversation,
      seq,
      messageId: `m${seq}`,
      sender: 'alice',
      senderDevice: 'd1',
      clientMsgId: `c${seq}`,
      body: `b${seq}`,
      meta: {},
      serverTs: 1000 + seq,
      ...over,
    },
  };
}

/** A group whose first user is its admin. */
export function groupConv(id: string, users: string[]): Conversation {
  return {
    id,
    kind: 'group',
    members: users.map((user, i) => ({ user, role: i === 0 ? 'admin' : 'member' })),
    createdAt: 1_700_000_000_001,
    subject: `subject of ${id}`,
  };
}

/** Open a store handle with `open`, run `fn` on it, always close it. */
export async function withStore<T>(open: () => Promise<MessageStore>, fn: (store: MessageStore) => Promise<T>): Promise<T> {
  const store = await open();
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
