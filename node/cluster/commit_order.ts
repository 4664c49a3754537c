/**
 * Keeps a pipelined writer's store commits in call order through their fence checks.
 *
 * With store.batch.concurrency > 1 several commits wait on their fence checks (an etcd
 * round trip each) at once, and those can finish in any order. The Cassandra store
 * keeps each conversation's commits in the order `commit` is *called*, so the calls
 * must stay in the writer's order. And a commit that fails (fenced, or the store
 * failed) must fail every commit in flight at that moment without writing, as the
 * writer fails what is queued behind a failed batch: otherwise a later commit could
 * store seqs above ones that were never stored, a gap. Commits started after the
 * failure carry seqs the chat service reloaded from the store, and go ahead.
 */
import { CatalogError } from '../../protocol/errors.js';

export class CommitOrder {
  /** Resolves when the last commit started has reached the store or failed. */
  private last: Promise<void> = Promise.resolve();
  private failures = 0;

  /**
   * `guarded(write)` runs the checks (the fence) and then `write`; `write` waits for
   * every earlier commit to reach the store (or fail) before it calls `store`.
   */
  async run(guarded: (write: () => Promise<void>) => Promise<void>, store: () => Promise<void>): Promise<void> {
    const before = this.last;
    const failuresAtStart = this.failures;
    let reached!: () => void;
    this.last = new Promise<void>((r) => (reached = r));
    const write = async (): Promise<void> => {
      await before;
      if (this.failures !== failuresAtStart) throw new CatalogError('unavailable', 'a write of this node failed while this one waited; retry', 250);
      reached();
      return store();
    };
    try {
      await guarded(write);
    } catch (e) {
      this.failures++;
      throw e;
    } finally {
      reached();
    }
  }
}
