/**
 * Test-only fault injection, armed by the SWITCHBOARD_TEST_FAULT environment
 * variable and inert without it. Used by the multi-process tests to crash the node
 * at the exact point a promise is about (e.g. after a write is durable, before the
 * ack leaves), which no outside signal can hit reliably.
 *
 *   kill_after_commit:<client_msg_id>   SIGKILL self right after the batch holding
 *                                       that message is committed
 *   crash_shard_on_body:<text>          a shard throws when a send with this body arrives
 *   crash_shard_at_start                every shard throws before it listens
 * (The shard faults are carried out in shards/shard_main.ts.)
 */
const SHARD_FAULTS = ['crash_shard_on_body', 'crash_shard_at_start'];
import type { WriteOp } from '../store/types.js';

export type CommitHook = (ops: WriteOp[]) => void;

export function faultHook(env: NodeJS.ProcessEnv = process.env): CommitHook | null {
  const spec = env.SWITCHBOARD_TEST_FAULT;
  if (!spec) return null;
  const [kind, arg] = spec.split(':', 2);
  if (kind === 'kill_after_commit' && arg) {
    return (ops) => {
      if (ops.some((o) => o.kind === 'message' && o.message.clientMsgId === arg)) process.kill(process.pid, 'SIGKILL');
    };
  }
  if (SHARD_FAULTS.includes(kind)) return null;
  throw new Error(`SWITCHBOARD_TEST_FAULT: unknown fault ${JSON.stringify(spec)}`);
}
