/**
 * The closed catalog of error codes and WebSocket close codes.
 *
 * Every error a client can see is one of these. `retryable` tells a client whether
 * the same request (with the same client_msg_id) may be sent again after backoff.
 * PROTOCOL.md documents each one for client authors; a test checks that the doc
 * lists every code here, so the two cannot drift.
 */

export const ERROR_CODES = {
  /** The frame could not be decoded in the negotiated encoding. */
  bad_frame: { retryable: false, doc: 'The frame could not be decoded (bad protobuf or JSON).' },
  /** A well-formed frame of a kind this server does not know. */
  unknown_frame_type: { retryable: false, doc: 'The frame decoded but carries no known kind.' },
  /** A field is missing or out of range. */
  invalid_argument: { retryable: false, doc: 'A field is missing, empty or out of range.' },
  /** The frame is larger than max_frame_bytes (up to 4x: this error, socket kept; beyond: closed with 1009). */
  frame_too_large: { retryable: false, doc: 'The frame is larger than max_frame_bytes; nothing was done. Far larger frames (over 4x) close the socket with 1009.' },
  /** Caller is not a member of the conversation (or it does not exist). */
  not_member: { retryable: false, doc: 'The caller is not a member of the conversation, or it does not exist.' },
  /** Caller is authenticated but the action is not allowed for it. */
  forbidden: { retryable: false, doc: 'The caller may not do this (e.g. open a direct chat with itself).' },
  /** Per-connection or per-user rate limit exceeded; wait retry_after_ms. */
  rate_limited: { retryable: true, doc: 'Too many frames; retry after retry_after_ms.' },
  /** The node's write queue is full; retry with backoff. Nothing was stored. */
  overloaded: { retryable: true, doc: 'The node is shedding load; nothing was stored. Retry with backoff.' },
  /** The store or an owner node cannot be reached; nothing was acked. */
  unavailable: { retryable: true, doc: 'A dependency (store, owner node) is unavailable; nothing was acked. Retry with backoff.' },
  /** The request timed out inside the node; the message may or may not be stored — resend with the same client_msg_id. */
  timeout: { retryable: true, doc: 'The node could not confirm in time; resend with the same client_msg_id (dedup makes it safe).' },
  /** Token missing, malformed, badly signed or for an unknown key. */
  unauthenticated: { retryable: false, doc: 'No valid token; the connection is closed with 4401.' },
  /** Token expired. Get a new one and reconnect. */
  token_expired: { retryable: false, doc: 'The token expired; the connection is closed with 4402. Reconnect with a fresh token.' },
  /** A cursor is older than what the server keeps (also flagged per conversation in SyncPage). */
  resync_required: { retryable: false, doc: 'The cursor is older than the retained history; drop local state for the conversation.' },
  /** A configured limit (group size, conversations, meta size) would be exceeded. */
  limit_exceeded: { retryable: false, doc: 'A configured limit would be exceeded.' },
  /** A user's daily media upload quota is used up; retry after retry_after_ms (the next UTC day). */
  quota_exceeded: { retryable: true, doc: 'The daily media upload quota is used up; retry after retry_after_ms (the next UTC day).' },
  /** A finished upload's bytes are not the declared size; the upload and its slot are removed. */
  media_size_mismatch: { retryable: false, doc: 'The uploaded bytes are not the declared size; nothing was stored. Request a new slot.' },
  /** A finished upload's SHA-256 is not the declared one; the upload and its slot are removed. */
  media_hash_mismatch: { retryable: false, doc: 'The uploaded bytes do not hash to the declared sha256; nothing was stored. Request a new slot.' },
  /** A finished upload's bytes are not of the declared type; the upload and its slot are removed. */
  media_type_mismatch: { retryable: false, doc: 'The uploaded bytes are not of the declared MIME type; nothing was stored. Request a new slot.' },
  /** Unexpected server fault. Safe to retry sends (dedup). */
  internal: { retryable: true, doc: 'Unexpected server fault; sends may be retried with the same client_msg_id.' },
} as const satisfies Record<string, { retryable: boolean; doc: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isRetryable(code: ErrorCode): boolean {
  return ERROR_CODES[code].retryable;
}

/**
 * WebSocket close codes, in documented ranges (as Centrifuge does):
 *   1000-1015  standard (RFC 6455)
 *   4000-4099  reconnect: the client should reconnect (with jittered backoff) and resync
 *   4400-4499  terminal: do not reconnect without fixing the cause (new token, new client)
 */
export const CLOSE_CODES = {
  normal: { code: 1000, reconnect: false, doc: 'Normal closure.' },
  too_large: { code: 1009, reconnect: true, doc: 'A frame exceeded 4x max_frame_bytes.' },
  server_restart: { code: 4000, reconnect: true, doc: 'The socket shard restarted (crash or upgrade); reconnect and resync.' },
  going_away: { code: 4001, reconnect: true, doc: 'The node is draining (after a goaway frame); reconnect to any node.' },
  idle_timeout: { code: 4002, reconnect: true, doc: 'No frame within idle_timeout_ms; reconnect.' },
  slow_consumer: { code: 4003, reconnect: true, doc: 'The client read too slowly and its outbound buffer overflowed; reconnect and resync.' },
  overloaded: { code: 4004, reconnect: true, doc: 'The node could not register the connection in the cluster route table (backlog full); reconnect with backoff, to any node.' },
  unauthenticated: { code: 4401, reconnect: false, doc: 'Missing, malformed or badly signed token.' },
  token_expired: { code: 4402, reconnect: false, doc: 'The token expired; reconnect with a fresh one.' },
  protocol_violation: { code: 4403, reconnect: false, doc: 'Repeated undecodable frames; fix the client.' },
  /** An operator's `switchboardctl kick`: terminal, or a kicked client would be back in a second with the same token. */
  kicked: { code: 4409, reconnect: false, doc: 'An operator closed this session (switchboardctl kick). Do not reconnect automatically: only after the user acts again (signs in, reopens the app).' },
} as const satisfies Record<string, { code: number; reconnect: boolean; doc: string }>;

export type CloseReason = keyof typeof CLOSE_CODES;
