/**
 * What every provider client takes besides its own settings (a clock and a log), and
 * the outcome checks they all make before touching the network.
 */
import type { PushOutcome, PushRequest } from '../provider.js';
import { tokenTag } from './payload.js';

/** Same shape as the host's Log (node/host/host.ts), so the node passes its own. */
export type PushLog = (level: string, msg: string, fields?: Record<string, unknown>) => void;

export interface ProviderEnv {
  /** ms since epoch; injected so token lifetimes and TTLs are tested without waiting. */
  now?: () => number;
  log?: PushLog;
}

export const noLog: PushLog = () => undefined;

/** A push past its expiresAt is dropped, never sent late. */
export function expiredOutcome(req: PushRequest, now: number): PushOutcome | null {
  return req.expiresAt <= now ? { kind: 'rejected', reason: 'expired before sending', status: 0 } : null;
}

/** The log fields that identify a push without its token: provider, user, device, a token tag. */
export function pushLogFields(platform: string, req: PushRequest, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { platform, user: req.device.user, device: req.device.device, token: tokenTag(req.device.token), conversation: req.conversation, seq: req.seq, ...extra };
}

/** Logs outcomes other than `sent` (a dead token, a dropped push, a retry), never the token itself. */
export function logOutcome(log: PushLog, platform: string, req: PushRequest, out: PushOutcome): PushOutcome {
  if (out.kind !== 'sent') {
    log(out.kind === 'retry' ? 'info' : 'warn', `push ${out.kind}`, pushLogFields(platform, req, { status: out.status, reason: out.reason }));
  }
  return out;
}
