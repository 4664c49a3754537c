/**
 * The push subsystem's data model, as plain data: a device's push registration, a
 * per-user conversation mute, an owed push (the durable outbox entry written for
 * every message before its commit) and the idempotency key of one provider send.
 * The provider-facing types (PushDevice, PushRequest, PushOutcome) are in provider.ts.
 */
import type { PushPlatform } from './provider.js';

export type { PushPlatform } from './provider.js';

export type PushMode = 'wake' | 'preview';

/** One device's registration: where its pushes go. One per (user, device); re-registering replaces it. */
export interface PushRegistration {
  user: string;
  device: string;
  platform: PushPlatform;
  /** APNs token (hex), FCM registration token, webhook URL, or the Web Push subscription as JSON. */
  token: string;
  /** APNs topic / FCM app / webhook app, as the app registered it. */
  appId: string;
  /** 'wake': content-free (default). 'preview': sender and body, only when the user opted in. */
  mode: PushMode;
  /** ms since epoch of the last registration. */
  updatedAt: number;
}

/**
 * A push owed for one durable message: written before the message's commit (so every
 * durable message has one), removed once every recipient device is settled. Keyed by
 * (shard, conversation, seq): the shard is the conversation's cluster shard (0 on a
 * single node), which is how the shard's owner, and after a failover its successor,
 * finds what it owes.
 */
export interface OwedPush {
  shard: number;
  conversation: string;
  seq: number;
  /** The message this entry was written for: a seq whose commit failed may later hold another message. */
  messageId: string;
  sender: string;
  senderDevice: string;
  /** ms since epoch when the entry was written. */
  owedAt: number;
}

/** The idempotency key of one push: at most one provider send per (user, device, conversation, seq) in practice. */
export interface SendKey {
  user: string;
  device: string;
  conversation: string;
  seq: number;
}

/**
 * What claiming a send found. 'claimed': it is ours now, send it. 'sent': a send of
 * this key was recorded, do nothing. 'held': another claimer (a previous run of this
 * node, or a former owner of the shard) claimed it and recorded no send: it may or may
 * not have gone out.
 */
export type ClaimResult = { state: 'claimed' } | { state: 'sent' } | { state: 'held'; by: string };

export type RegisterResult = 'ok' | 'dead_token';
