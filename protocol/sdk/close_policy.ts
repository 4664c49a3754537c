/**
 * What a client does after its socket closed, from the close code alone
 * (PROTOCOL.md §6.4, §9.2; the ranges come from protocol/codes.ts):
 *   reconnect  4000-4099, 1009, 1001, 1006 and anything unknown: back off, reconnect, resync
 *   reauth     4401, 4402: the credentials are bad or old; fetch fresh ones first
 *   terminal   4403 and the rest of 4400-4499: the client is at fault; do not loop
 *   stopped    1000 that we asked for ourselves (close())
 */
import { CLOSE_CODES } from '../codes.js';

export type CloseAction = 'reconnect' | 'reauth' | 'terminal';

export function closeAction(code: number): CloseAction {
  if (code === CLOSE_CODES.unauthenticated.code || code === CLOSE_CODES.token_expired.code) return 'reauth';
  if (code >= 4400 && code <= 4499) return 'terminal';
  // 4000-4099 say "reconnect"; 1006 (no close frame) is a lost network or a frame the
  // server's WebSocket layer refused (§9.3) and is treated like 4000, as is any code
  // this client does not know: giving up on an unknown code would strand the user.
  return 'reconnect';
}
