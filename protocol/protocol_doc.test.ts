/**
 * PROTOCOL.md is the client author's spec; this test keeps it from drifting away
 * from the code. It fails when the doc leaves out an error code, a close code or a
 * frame kind, or when a catalog table row disagrees with codes.ts on retryable /
 * reconnect.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CLOSE_CODES, ERROR_CODES } from './codes.js';
import { ClientFrameSchema, ServerFrameSchema } from './gen/client_pb.js';

const doc = readFileSync(new URL('./PROTOCOL.md', import.meta.url), 'utf8');

/** The body rows (as trimmed cells) of the markdown table whose header row is `header`. */
function table(header: string): string[][] {
  const lines = doc.split('\n');
  const at = lines.findIndex((l) => l.trim() === header);
  assert.ok(at >= 0, `PROTOCOL.md has no table headed "${header}"`);
  const rows: string[][] = [];
  for (const l of lines.slice(at + 2)) {
    if (!l.startsWith('|')) break;
    rows.push(l.split('|').slice(1, -1).map((c) => c.trim()));
  }
  return rows;
}

describe('PROTOCOL.md', () => {
  it('documents every error code of the catalog, with its retryable flag', () => {
    const rows = new Map(table('| code | retryable | meaning |').map((c) => [c[0].replace(/`/g, ''), c]));
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      assert.ok(doc.includes(`\`${code}\``), `error code ${code} is not mentioned`);
      const row = rows.get(code);
      assert.ok(row, `error code ${code} has no row in the error table`);
      assert.equal(row[1], spec.retryable ? 'yes' : 'no', `error code ${code}: retryable column`);
    }
  });

  it('documents every close code, with its reconnect flag', () => {
    const rows = new Map(table('| close code | name | reconnect | meaning |').map((c) => [Number(c[0]), c]));
    for (const [name, spec] of Object.entries(CLOSE_CODES)) {
      const row = rows.get(spec.code);
      assert.ok(row, `close code ${spec.code} (${name}) has no row in the close-code table`);
      assert.equal(row[1], `\`${name}\``, `close code ${spec.code}: name column`);
      assert.equal(row[2], spec.reconnect ? 'yes' : 'no', `close code ${spec.code}: reconnect column`);
    }
  });

  it('states the close-code ranges', () => {
    assert.match(doc, /4000-4099/);
    assert.match(doc, /4400-4499/);
    for (const { code } of Object.values(CLOSE_CODES)) {
      if (code >= 4000) assert.ok((code >= 4000 && code <= 4099) || (code >= 4400 && code <= 4499), `${code} is outside the documented ranges`);
    }
  });

  for (const [side, schema] of [
    ['ClientFrame', ClientFrameSchema],
    ['ServerFrame', ServerFrameSchema],
  ] as const) {
    it(`documents every ${side} kind`, () => {
      const kinds = schema.oneofs[0].fields.map((f) => f.name);
      assert.ok(kinds.length > 0);
      for (const k of kinds) assert.ok(doc.includes(`\`${k}\``), `${side} kind ${k} is not documented`);
    });
  }
});
