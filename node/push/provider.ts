// The push provider contract: the one interface every push provider client
// (APNs, FCM, Web Push, webhook) implements, and the request/outcome types the
// push outbox hands them. Providers are thin wire clients: they never retry on
// their own, never queue, and never decide who gets a push. They translate one
// PushRequest into one provider call and map the answer to a PushOutcome, so the
// outbox alone owns retry, backoff and token removal.

export type PushPlatform = 'apns' | 'fcm' | 'webpush' | 'webhook';

export interface PushDevice {
  user: string; device: string; platform: PushPlatform;
  /** APNs device token (hex), FCM registration token, webhook URL; for webpush the subscription JSON {endpoint, keys:{p256dh, auth}}. */
  token: string;
  /** APNs topic (bundle id) / FCM project is config; per-device app id when the app has several. */
  appId: string;
  /** 'wake' = content-free wake-up (default); 'preview' = sender and body shown (user opted in). */
  mode: 'wake' | 'preview';
}

export interface PushRequest {
  device: PushDevice;
  conversation: string; seq: number;
  /** Collapse key for this (device, conversation): at most one visible notification per conversation. */
  collapseId: string;
  unread: number;
  /** Only when device.mode === 'preview'. */
  preview: { sender: string; body: string } | null;
  /** Drop the push after this time (ms since epoch). */
  expiresAt: number;
}

export type PushOutcome =
  | { kind: 'sent'; status: number }
  /** Try again later; afterMs from Retry-After when the provider gave one. */
  | { kind: 'retry'; reason: string; afterMs: number | null; status: number }
  /** The token/subscription is dead (410 Unregistered, 400 BadDeviceToken, 404 UNREGISTERED, 404/410 web push): remove it, never use it again. */
  | { kind: 'unregistered'; reason: string; status: number }
  /** Not retryable for this push (payload too big, bad request): drop it. */
  | { kind: 'rejected'; reason: string; status: number };

export interface PushProvider {
  readonly platform: PushPlatform;
  /** One delivery attempt. Never throws for provider or network errors: they map to an outcome (network down → retry, status 0). */
  send(req: PushRequest): Promise<PushOutcome>;
  /** Close sessions/sockets; send() after close() answers retry. */
  close(): Promise<void>;
}
