/**
 * Test support for the chat service: the real SQLite store behind hooks that can hold
 * a read or a commit at a chosen moment (a Gate), or fail the next commit. The
 * deterministic tests of sequencing, dedup and write failures are built on it.
 */
import type { SqliteStore } from '../store/sqlite_store.js';
import type { MessageStore } from '../store/store.js';
import type { WriteOp } from '../store/types.js';

export class HookedStore implements MessageStore {
  readonly kind = 'hooked';
  failNextCommit = false;
  /** Called before each commit; may delay it. */
  beforeCommit: (ops: WriteOp[]) => Promise<void> = async () => {};
  /** Called before each dedup read; may delay it. */
  beforeFind: (clientMsgId: string) => Promise<void> = async () => {};
  /** Called before each conversation read (a load of the conversation's state). */
  beforeGetConversation: () => Promise<void> = async () => {};
  constructor(readonly inner: SqliteStore) {}
  async commit(ops: WriteOp[]): Promise<void> {
    await this.beforeCommit(ops);
    if (this.failNextCommit) {
      this.failNextCommit = false;
      throw new Error('disk on fire');
    }
    return this.inner.commit(ops);
  }
  async getConversation(id: string) {
    await this.beforeGetConversation();
    return this.inner.getConversation(id);
  }
  listUserConversations(user: string) { return this.inner.listUserConversations(user); }
  lastSeq(c: string) { return this.inner.lastSeq(c); }
  firstSeq(c: string) { return this.inner.firstSeq(c); }
  async findByClientMsgId(c: string, sender: string, id: string) {
    await this.beforeFind(id);
    return this.inner.findByClientMsgId(c, sender, id);
  }
  readAfter(c: string, after: number, limit: number) { return this.inner.readAfter(c, after, limit); }
  readBefore(c: string, before: number, limit: number) { return this.inner.readBefore(c, before, limit); }
  getCursors(c: string) { return this.inner.getCursors(c); }
  getPresence(users: string[]) { return this.inner.getPresence(users); }
  close() { return this.inner.close(); }
}
