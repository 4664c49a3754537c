/**
 * CatalogError: the one failure a client sees, as one error frame (or HTTP error body):
 * a code from the catalog (codes.ts), a message, and retry_after_ms. The codec throws it
 * for a frame it cannot decode, the core for an op it refuses, and a node for an op
 * from a peer that does not match the schema.
 *
 * reqId is set only by the decoder, which may know a frame's req_id although the frame
 * never became an op; everywhere else the session that sent the op answers its req_id.
 */
import type { ErrorCode } from './codes.js';

export class CatalogError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly retryAfterMs = 0,
    readonly reqId = 0,
  ) {
    super(readable(message));
    this.name = 'CatalogError';
  }
}

/**
 * Messages may quote client input (protobuf-es names the value it could not read; a
 * refusal may name an id). They go back to the client in an error frame, so they are
 * kept short (a 64 KiB bad value need not come back) and well-formed UTF-16: a lone
 * surrogate would make a JSON error frame undecodable by the client's protobuf runtime
 * ("invalid UTF8").
 */
const MAX_MESSAGE_CHARS = 300;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function readable(message: string): string {
  const cut = message.length > MAX_MESSAGE_CHARS ? `${message.slice(0, MAX_MESSAGE_CHARS - 1)}…` : message;
  return cut.replace(LONE_SURROGATE, '\ufffd');
}
