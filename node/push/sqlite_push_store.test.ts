/** SqlitePushStore: the shared PushStore conformance suite on one temp file. */
import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqlitePushStore } from './sqlite_push_store.js';
import { runPushStoreConformance } from './push_conformance.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-push-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));
runPushStoreConformance('sqlite', async () => new SqlitePushStore(join(dir, 'push.sqlite')));
