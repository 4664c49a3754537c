/**
 * The Switchboard client SDK (PROTOCOL.md §6), for browsers and Node ≥ 20. It imports
 * only protocol/ (codec, generated types, codes). FileStorage is a separate import
 * (`protocol/sdk/storage_file.js`) so browser bundles never pull in node:fs.
 *
 *   const c = new SwitchboardClient({ url, auth: { token }, storage: new IndexedDbStorage('alice/web') });
 *   c.on('message', (m) => render(m));
 *   await c.start();
 *   const conv = await c.openDirect('bob');
 *   c.send(conv, 'hi bob');               // ✓ / ✓✓ / read via c.tick(conv, seq) on 'receipts'
 */
export { SwitchboardClient, type Auth, type ClientOptions } from './client.js';
export { RequestError, type WebSocketCtor, type WebSocketLike } from './connection.js';
export { MemoryStorage, type SdkStorage } from './storage.js';
export { IndexedDbStorage } from './storage_indexeddb.js';
export { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
export { closeAction, type CloseAction } from './close_policy.js';
export { realClock, type Clock } from './clock.js';
export { UploadError } from './media.js';
export type * from './types.js';
