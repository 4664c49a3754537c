/** ChatError: a failure the client sees as a catalogued error frame. */
import type { ErrorCode } from '../../protocol/codes.js';

export class ChatError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly retryAfterMs = 0,
  ) {
    super(message);
    this.name = 'ChatError';
  }
}
