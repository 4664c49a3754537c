/** Media end to end on the filesystem blob store (the `npm start` default): node/e2e/media_suite.ts. */
import path from 'node:path';
import { FsBlobStore } from '../media/blob_store_fs.js';
import { runMediaE2e, runMediaRetentionE2e } from './media_suite.js';

const fs = {
  name: 'filesystem store',
  s3: false,
  config: () => ({}),
  blobs: (node: { dataDir: string }) => new FsBlobStore({ dir: path.join(node.dataDir, 'blobs') }),
};
runMediaE2e(fs);
runMediaRetentionE2e(fs);
