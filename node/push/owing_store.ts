/**
 * A MessageStore whose commit first records the pushes its messages owe: the push
 * outbox's write-ahead (PUSH.md, "A push is owed the moment its message is durable").
 * The host wraps its message store with it when push is on, inside the write path's
 * fence, so every message that becomes durable has an owed row written before it. If
 * the owed rows cannot be written the commit fails like any store failure (the sends
 * get a retryable error, nothing is acked), so no message is ever durable without one.
 * Every other call goes to the wrapped store unchanged.
 */
import type { MessageStore } from '../store/store.js';
import type { WriteOp } from '../store/types.js';
import type { PushStore } from './push_store.js';
import type { OwedPush } from './types.js';
import { StoreUnavailableError } from '../store/errors.js';

export function owingStore(inner: MessageStore, push: PushStore, shardOf: (conversation: string) => number): MessageStore {
  const commit = async (ops: WriteOp[]): Promise<void> => {
    const now = Date.now();
    const owed: OwedPush[] = [];
    for (const op of ops) {
      if (op.kind !== 'message') continue;
      const m = op.message;
      owed.push({ shard: shardOf(m.conversation), conversation: m.conversation, seq: m.seq, messageId: m.messageId, sender: m.sender, senderDevice: m.senderDevice, owedAt: now });
    }
    if (owed.length) {
      try {
        await push.addOwed(owed);
      } catch (e) {
        throw new StoreUnavailableError(`push outbox: owed pushes not recorded, commit refused: ${(e as Error).message}`, { cause: e });
      }
    }
    return inner.commit(ops);
  };
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'commit') return commit;
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
