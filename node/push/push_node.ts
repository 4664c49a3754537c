/**
 * Push notifications as the host wires them (node/host/host.ts, node/main.ts): the
 * pieces the host's children hold, in one place so the host's edits stay small.
 *
 *   storeChild   wrapStore(store)  opens the push store, wraps the message store so
 *                                  every commit writes its owed pushes first
 *   (fan-out)    fanout(inner)     the host's fan-out port with the outbox hung off it
 *   push child   child()           the outbox and the providers; follows shard
 *                                  ownership (every shard on one node, the held ones
 *                                  in a cell) and resumes what each shard owes
 *   shards/HTTP  run(caller, op), api()   registration ops and routes
 *
 * With no provider enabled (`push.*.enabled` all false) none of this runs: no owed
 * rows are written and registration ops are refused.
 */
import type { Registry } from 'prom-client';
import type { ChildSpecInput, Service } from '../../supervisor/index.js';
import { serviceChild } from '../../supervisor/index.js';
import type { Config } from '../config.js';
import type { MessageStore } from '../store/store.js';
import type { FanoutPort } from '../core/fanout_port.js';
import type { ConnectionRegistry } from '../core/registry.js';
import type { Caller } from '../core/chat_types.js';
import type { CoreResult, PushOp } from '../core/ops.js';
import { CatalogError } from '../../protocol/errors.js';
import type { PushStore } from './push_store.js';
import { openPushStore, PushService } from './push_service.js';
import { owingStore } from './owing_store.js';
import { PushFanout } from './push_fanout.js';
import { PushMetrics } from './metrics.js';
import { createProviders, pushEnabled } from './provider_set.js';
import type { PushApi } from './push_http.js';
import type { Log } from './outbox_deps.js';

/** What a cell tells push about shards and where devices are connected; null on one node. */
export interface PushCell {
  shardCount: number;
  shardOf(conversation: string): number;
  /** This node's ownership epoch (fencing token) of the shard, or null. */
  heldToken(shard: number): number | null;
  /**
   * Whether this node's lease stays valid for the fence's safety margin (as a message
   * write requires): a node frozen past its lease must not send on an epoch it no
   * longer holds before it has noticed.
   */
  leaseValid(): boolean;
  /** Devices of `user` connected to other nodes of the cell. */
  remoteDevices(user: string): Array<{ device: string; node: string }>;
}

export interface PushNodeDeps {
  cfg: Config;
  registry: ConnectionRegistry;
  cell: PushCell | null;
  /** The host's metrics registry (read when the push child first starts). */
  metrics: () => Registry;
  log: Log;
}

/** How often shard ownership is compared with what the outbox follows: a successor resumes within this of its claim. */
const OWNERSHIP_POLL_MS = 500;
/** The single node's one "shard" and epoch. */
const ONLY_SHARD = 0;
const ONLY_EPOCH = 0;

export class PushNode {
  readonly enabled: boolean;
  private store: PushStore | null = null;
  private service: PushService | null = null;
  /** Registered once per process: a restarted push child keeps counting in the same series. */
  private metrics: PushMetrics | null = null;

  constructor(private readonly d: PushNodeDeps) {
    this.enabled = pushEnabled(d.cfg);
  }

  private shardOf(conversation: string): number {
    return this.d.cell ? this.d.cell.shardOf(conversation) : ONLY_SHARD;
  }

  /** Open the push store and wrap the message store (store child start). Identity when push is off. */
  async wrapStore(store: MessageStore): Promise<MessageStore> {
    if (!this.enabled) return store;
    this.store = await openPushStore(this.d.cfg);
    return owingStore(store, this.store, (c) => this.shardOf(c));
  }

  /** Close the push store (store child stop, after the message store's writer drained). */
  async closeStore(): Promise<void> {
    const s = this.store;
    this.store = null;
    await s?.close();
  }

  fanout(inner: FanoutPort): FanoutPort {
    return this.enabled ? new PushFanout(inner, () => this.service) : inner;
  }

  /** Whether a device of `user` has a live connection anywhere in the cell. */
  online(user: string, device: string): boolean {
    for (const ref of this.d.registry.connectionsOf(user)) if (ref.device === device) return true;
    return this.d.cell ? this.d.cell.remoteDevices(user).some((r) => r.device === device) : false;
  }

  /** The push child: after the store (its push store) and the chat service; restarts alone with them. */
  child(messages: () => MessageStore): ChildSpecInput {
    return {
      id: 'push',
      shutdown: 10_000,
      start: serviceChild((): Service => {
        let poll: NodeJS.Timeout | null = null;
        const followed = new Map<number, number>();
        return {
          start: async () => {
            if (!this.store) throw new Error('the push store is not open (store child)');
            const cell = this.d.cell;
            this.metrics ??= new PushMetrics(this.d.metrics());
            const svc = new PushService(
              this.store,
              {
                cfg: this.d.cfg,
                messages: messages(),
                online: (u, dev) => this.online(u, dev),
                ownership: {
                  shardOf: (c) => this.shardOf(c),
                  epochOf: (c) => (cell ? (cell.leaseValid() ? cell.heldToken(cell.shardOf(c)) : null) : ONLY_EPOCH),
                },
                providers: createProviders(this.d.cfg, this.d.log),
                metrics: this.metrics,
                log: this.d.log,
              },
              false,
            );
            this.service = svc;
            const follow = (): void => {
              const count = cell ? cell.shardCount : 1;
              for (let s = 0; s < count; s++) {
                const token = cell ? cell.heldToken(s) : ONLY_EPOCH;
                const had = followed.get(s);
                if (token === (had ?? null)) continue;
                if (had !== undefined) {
                  svc.release(s);
                  followed.delete(s);
                }
                if (token !== null) {
                  followed.set(s, token);
                  void svc.acquire(s);
                }
              }
            };
            follow();
            poll = setInterval(follow, OWNERSHIP_POLL_MS);
            poll.unref();
          },
          stop: async () => {
            if (poll) clearInterval(poll);
            const svc = this.service;
            this.service = null;
            await svc?.close();
          },
        };
      }),
    };
  }

  /** The HTTP API's push routes, or undefined when push is off. */
  api(): PushApi | undefined {
    if (!this.enabled) return undefined;
    return {
      register: (u, dev, input) => this.running().register(u, dev, input),
      unregister: (u, dev) => this.running().unregister(u, dev),
      list: (u) => this.running().list(u),
      mute: (u, c, m) => this.running().mute(u, c, m),
    };
  }

  /** A push op from a socket: runs here, against the shared push store. Never throws. */
  async run(caller: Caller, op: PushOp): Promise<CoreResult> {
    try {
      if (!this.enabled) throw new CatalogError('invalid_argument', 'push notifications are not enabled on this server');
      const svc = this.running();
      switch (op.op) {
        case 'push_register': {
          const sub = op.subscription ? { endpoint: op.subscription.endpoint, keys: { p256dh: op.subscription.p256dh, auth: op.subscription.auth } } : null;
          const v = await svc.register(caller.user, caller.device, { platform: op.platform, token: op.token, subscription: sub, appId: op.appId, mode: op.mode });
          return { r: 'push_state', state: { registered: true, platform: v.platform, appId: v.appId, mode: v.mode, tokenHint: v.token, conversation: '', mutedUntilMs: 0 } };
        }
        case 'push_unregister':
          await svc.unregister(caller.user, caller.device);
          return { r: 'push_state', state: { registered: false, platform: '', appId: '', mode: '', tokenHint: '', conversation: '', mutedUntilMs: 0 } };
        case 'push_mute': {
          const until = await svc.mute(caller.user, op.conversation, { durationSec: op.durationSec, forever: op.forever });
          const v = await svc.stateOf(caller.user, caller.device);
          return {
            r: 'push_state',
            state: { registered: v !== null, platform: v?.platform ?? '', appId: v?.appId ?? '', mode: v?.mode ?? '', tokenHint: v?.token ?? '', conversation: op.conversation, mutedUntilMs: until },
          };
        }
      }
    } catch (e) {
      if (e instanceof CatalogError) return { r: 'error', code: e.code, message: e.message, retryAfterMs: e.retryAfterMs };
      this.d.log('warn', 'push op failed', { op: op.op, err: String(e) });
      return { r: 'error', code: 'unavailable', message: 'the push store is unavailable; retry', retryAfterMs: 1_000 };
    }
  }

  private running(): PushService {
    if (!this.service) throw new CatalogError('unavailable', 'push notifications are restarting; retry', 500);
    return this.service;
  }
}
