import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitCql } from './cql_split.js';

test('splits on top-level semicolons and drops empty statements', () => {
  assert.deepEqual(splitCql('SELECT 1;; SELECT 2 ;\n'), ['SELECT 1', 'SELECT 2']);
});

test('semicolons in strings, identifiers and $$ bodies do not split', () => {
  const s = `INSERT INTO t (a) VALUES ('x;y''z;'); CREATE TABLE "we;ird" (k int PRIMARY KEY); SELECT $$a;b$$`;
  assert.deepEqual(splitCql(s), [
    "INSERT INTO t (a) VALUES ('x;y''z;')",
    'CREATE TABLE "we;ird" (k int PRIMARY KEY)',
    'SELECT $$a;b$$',
  ]);
});

test('comments are dropped, with their semicolons', () => {
  assert.deepEqual(splitCql('-- a; b\nSELECT 1; /* c; */ SELECT 2 // d;\n'), ['SELECT 1', 'SELECT 2']);
});
