/** The media listener suite (media_listener_suite.ts) on the filesystem blob store: the node serves signed GETs. */
import path from 'node:path';
import { FsBlobStore } from './blob_store_fs.js';
import { runMediaListenerSuite } from './media_listener_suite.js';

runMediaListenerSuite('the filesystem store', async (dir) => new FsBlobStore({ dir: path.join(dir, 'blobs') }));
