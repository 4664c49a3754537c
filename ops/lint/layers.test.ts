/**
 * The layer rule as `npm run lint` runs it: ESLint with the repo's eslint.config.js on
 * deliberately bad imports, one per rule, and on good ones (docs/ARCHITECTURE.md).
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ESLint } from 'eslint';
import { REPO_ROOT } from './cycles.js';

let eslint: ESLint;

/** The messages of the layer rule for `code` linted as if it were the repo file `file`. */
async function layerErrors(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(REPO_ROOT, file) });
  return result.messages.filter((m) => m.ruleId === 'switchboard/layers').map((m) => m.message);
}

async function refused(file: string, code: string, expected: RegExp): Promise<void> {
  const errors = await layerErrors(file, code);
  assert.equal(errors.length, 1, `one layer error for ${file}: ${code} (got ${JSON.stringify(errors)})`);
  assert.match(errors[0], expected);
  assert.match(errors[0], /layers: docs\/ARCHITECTURE\.md/);
}

describe('lint: layer rules (eslint.config.js, ops/lint/layers.js)', () => {
  before(() => {
    eslint = new ESLint({ cwd: REPO_ROOT });
  });

  it('shards/ may not import node/host/, at any depth and in any import form', async () => {
    const expected = /^shards\/ may not import node\/host\//;
    await refused('shards/bad.ts', `import { BatchingOutbox } from '../node/host/outbox.js';\nexport const x = BatchingOutbox;\n`, expected);
    await refused('shards/a/b/bad.ts', `import type { Host } from '../../../node/host/host.js';\nexport type X = Host;\n`, expected);
    await refused('shards/bad.ts', `export type X = import('../node/host/host.js').Host;\n`, expected);
    await refused('shards/bad.ts', `export { BatchingOutbox } from '../node/host/outbox.js';\n`, expected);
    await refused('shards/bad.ts', `export const m = import('../node/host/outbox.js');\n`, expected);
  });

  it('node/ may not import ops/', async () => {
    await refused('node/core/bad.ts', `import { startEtcd } from '../../ops/etcd/etcd.js';\nexport const x = startEtcd;\n`, /^node\/ may not import ops\//);
  });

  it('ops/ may not import benchmarks/', async () => {
    await refused('ops/chaos/bad.ts', `import { parseFlags } from '../../benchmarks/lib/nodes.js';\nexport const x = parseFlags;\n`, /^ops\/ may not import benchmarks\//);
  });

  it('protocol/ may not import node/', async () => {
    await refused('protocol/bad.ts', `import type { Config } from '../node/config.js';\nexport type X = Config;\n`, /^protocol\/ may not import node\/config\.ts \(protocol\/ imports only itself/);
  });

  it('supervisor/ may not import protocol/ (the two leaves are independent)', async () => {
    await refused('supervisor/bad.ts', `import { CLOSE_CODES } from '../protocol/codes.js';\nexport const x = CLOSE_CODES;\n`, /^supervisor\/ may not import protocol\//);
  });

  it('the core contract may not import shards/, nor the rest of node/', async () => {
    await refused('node/core/ops.ts', `import type { ShardInit } from '../../shards/messages.js';\nexport type X = ShardInit;\n`, /^the core contract \(node\/core\/ops\.ts\) may not import shards\//);
    await refused('node/store/types.ts', `import type { Config } from '../config.js';\nexport type X = Config;\n`, /^the core contract \(node\/store\/types\.ts\) may not import node\/config\.ts/);
    await refused('node/auth/bad.ts', `import type { ChatService } from '../core/chat_service.js';\nexport type X = ChatService;\n`, /^the core contract \(node\/auth\/bad\.ts\) may not import node\/core\//);
  });

  it('shards/ may not import the rest of node/core/, only its contract', async () => {
    await refused('shards/bad.ts', `import type { ChatService } from '../node/core/chat_service.js';\nexport type X = ChatService;\n`, /^shards\/ may not import node\/core\//);
  });

  it('allows imports down the layers', async () => {
    const good = [
      `import type { CoreOp } from '../node/core/ops.js';`,
      `import type { StoredMessage } from '../node/store/types.js';`,
      `import { createVerifier } from '../node/auth/verify.js';`,
      `import { CLOSE_CODES } from '../protocol/codes.js';`,
      `import { serveSupervisor } from '../supervisor/thread_side.js';`,
      `import { errorFrame } from './frames.js';`,
      `import { create } from '@bufbuild/protobuf';`,
    ].join('\n');
    assert.deepEqual(await layerErrors('shards/good.ts', good + '\nexport const x = [createVerifier, CLOSE_CODES, serveSupervisor, errorFrame, create];\n'), []);
    assert.deepEqual(await layerErrors('benchmarks/good.ts', `import { parseFlags } from '../ops/lib/args.js';\nimport { defaultConfig } from '../node/config.js';\nexport const x = [parseFlags, defaultConfig];\n`), []);
  });

  it('lets tests import the ops/ launchers, the e2e harnesses and the node defaults, and only tests', async () => {
    const code = `import { startEtcd } from '../../ops/etcd/etcd.js';\nimport { defaultConfig } from '../config.js';\nexport const x = [startEtcd, defaultConfig];\n`;
    assert.deepEqual(await layerErrors('node/routing/x.test.ts', code), []);
    assert.deepEqual(await layerErrors('node/routing/x_test_env.ts', code), []);
    await refused('node/routing/x.ts', `import { startEtcd } from '../../ops/etcd/etcd.js';\nexport const x = startEtcd;\n`, /^node\/ may not import ops\//);
    await refused('shards/x.test.ts', `import { ChatService } from '../node/core/chat_service.js';\nexport const x = ChatService;\n`, /^shards\/ may not import node\/core\//);
  });
});
