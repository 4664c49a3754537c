/**
 * What the core needs from the media service (node/media/media_service.ts), narrow on
 * purpose: the core never sees bytes, URL secrets or blob stores. Plain data in and out
 * (the types are in ops.ts, the contract); errors are CatalogErrors (protocol/codes.ts).
 */

import type { MediaRefInfo, MediaSlotInfo, MediaUrlInfo } from './ops.js';

export interface MediaPort {
  /** An upload slot (membership, size and quota checked). */
  slot(user: string, req: { conversation: string; size: number; mime: string; sha256: string }): Promise<MediaSlotInfo>;
  /**
   * Before a send takes its seq: the reference, only for the sender's own complete
   * upload for this conversation, pinned so GC cannot take it while the send is stored.
   */
  attach(user: string, mediaId: string, conversation: string): Promise<MediaRefInfo>;
  /** After the message is durable: the message (conversation, seq) carries the media (the pin is released). */
  referenced(mediaId: string, conversation: string, seq: number): Promise<void>;
  /** Retention trimmed the conversation below firstSeq: its media there is no longer carried (GC may take it after the grace). */
  trimmed(conversation: string, firstSeq: number): Promise<void>;
  /** A short-lived download URL for a member of a conversation that carries the media. */
  url(user: string, mediaId: string, conversation: string): Promise<MediaUrlInfo>;
}
