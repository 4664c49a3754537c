/**
 * A media reference as a message carries it (PROTOCOL.md §13, MediaRef), as plain data
 * (numbers, not bigints): one shape for the node (node/core/ops.ts) and the SDK
 * (protocol/sdk/types.ts).
 */
export interface MediaRefInfo {
  mediaId: string;
  mime: string;
  size: number;
  sha256: string;
  width: number;
  height: number;
  /** A blurhash for PNG images ('' when none; absent in references stored before it existed). */
  blurhash?: string;
}
