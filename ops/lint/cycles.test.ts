/**
 * `npm run check:cycles` on a made-up tree (it finds file and folder cycles, type
 * imports and `import()` types included, and ignores tests) and on the repo: no cycle
 * among product files but the ones listed in PENDING, each in another engineer's
 * files while issue 13 is under way. Remove an entry when its cycle is gone.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkCycles, formatReport } from './cycles.js';

/** Cycles known and owned elsewhere (issue 13): members joined by ', '. */
const PENDING = new Set<string>([
]);

describe('check:cycles (ops/lint/cycles.ts)', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'sb-cycles-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  const file = (rel: string, text: string): void => {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  };

  it('finds file cycles and folder cycles, type-only ones too, and leaves tests out', () => {
    file('node/a/one.ts', `import type { Two } from './two.js';\nexport type One = Two;\n`);
    file('node/a/two.ts', `export type Two = import('./one.js').One;\n`);
    file('node/b/x.ts', `import { y } from '../c/y.js';\nexport const x = y;\n`);
    file('node/c/y.ts', `export const y = 1;\nexport const late = () => import('../b/z.js');\n`);
    file('node/b/z.ts', `export const z = 2;\n`);
    // A test importing what imports it is no cycle of the product.
    file('node/c/y.test.ts', `import { x } from '../b/x.js';\nexport const t = x;\n`);
    file('node/b/w.ts', `import { t } from '../c/y.test.js';\nexport const w = t;\n`);
    const r = checkCycles(root);
    assert.deepEqual(r.fileCycles.map((c) => c.members), [['node/a/one.ts', 'node/a/two.ts']]);
    assert.deepEqual(r.fileCycles[0].loop, ['node/a/one.ts', 'node/a/two.ts', 'node/a/one.ts']);
    assert.deepEqual(r.folderCycles.map((c) => c.members), [['node/b', 'node/c']]);
    assert.match(formatReport(r), /folder cycle \(2\): node\/b, node\/c/);
  });

  it('the repo has no cycle among product files but the pending ones', () => {
    const r = checkCycles();
    const found = [...r.fileCycles.map((c) => `file: ${c.members.join(', ')}`), ...r.folderCycles.map((c) => `folder: ${c.members.join(', ')}`)];
    const unexpected = found.filter((c) => !PENDING.has(c));
    assert.deepEqual(unexpected, [], formatReport(r));
    assert.ok(r.files > 100, `read the whole tree (${r.files} files)`);
  });
});
