/** Media end to end on the filesystem blob store (the `npm start` default): node/e2e/media_suite.ts. */
import path from 'node:path';
import { FsBlobStore } from '../media/blob_store_fs.js';
import { runMediaE2e } from './media_suite.js';

runMediaE2e({
  name: 'filesystem store',
  s3: false,
  config: () => ({}),
  blobs: (node) => new FsBlobStore({ dir: path.join(node.dataDir, 'blobs') }),
});
