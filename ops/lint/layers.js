/**
 * The layer rule of `npm run lint` (eslint.config.js turns it on as
 * `switchboard/layers`). Imports go one way, down this table; docs/ARCHITECTURE.md
 * explains each layer:
 *
 *   protocol/, supervisor/   leaves: import only themselves
 *   the core contract        node/core/ops.ts, pushes.ts, op_rules.ts, node/store/types.ts,
 *                            node/auth/ (shards verify tokens with it): protocol/ and itself
 *   shards/                  + the contract
 *   node/                    + shards/ (the rest of node/)
 *   ops/                     + node/
 *   benchmarks/              + ops/
 *
 * Tests and test support (TEST_SUPPORT) follow the rule of their folder and may also
 * import (TEST_EXTRAS) the ops/ launchers of real dependencies (etcd, Cassandra,
 * SeaweedFS, haproxy), the node/e2e/ harnesses, and node/config.ts for the node's
 * defaults (a shard or codec test runs with the limits the node really uses).
 *
 * Plain JavaScript so eslint.config.js can load it without a TypeScript loader.
 * Every relative specifier (import, export ... from, import(), import('...').T,
 * import x = require(), require()) is resolved to a repo path first, so the rule
 * holds at any depth of `../`.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DOC = 'docs/ARCHITECTURE.md';

/** The core's contract: the part of node/ that shards/ may import. */
export const CONTRACT_FILES = ['node/core/ops.ts', 'node/core/op_rules.ts', 'node/core/pushes.ts', 'node/store/types.ts'];
export const CONTRACT_DIRS = ['node/auth/'];

/** Each layer and the layers it may import (itself included when listed). */
export const LAYERS = {
  protocol: { label: 'protocol/', may: ['protocol'] },
  supervisor: { label: 'supervisor/', may: ['supervisor'] },
  contract: { label: 'the core contract', may: ['protocol', 'contract'] },
  shards: { label: 'shards/', may: ['protocol', 'supervisor', 'contract', 'shards'] },
  node: { label: 'node/', may: ['protocol', 'supervisor', 'contract', 'shards', 'node'] },
  ops: { label: 'ops/', may: ['protocol', 'supervisor', 'contract', 'shards', 'node', 'ops'] },
  benchmarks: { label: 'benchmarks/', may: ['protocol', 'supervisor', 'contract', 'shards', 'node', 'ops', 'benchmarks'] },
};

/** Tests and test support (the cycle check, ops/lint/import_graph.ts, leaves them out too). */
export const TEST_SUPPORT = [
  /\.test\.ts$/,
  /\.chaos\.ts$/,
  /(^|\/)e2e\//,
  /(^|\/)fixtures\//,
  /(^|\/)fixtures\.ts$/,
  /_test_env\.ts$/,
  /conformance[a-z_]*\.ts$/,
  /(^|\/)fake_[a-z_]+\.ts$/,
];

/** What tests may import beyond their layer: launchers of real dependencies, the e2e harnesses, the node's defaults. */
export const TEST_EXTRAS = ['ops/etcd/', 'ops/cassandra/', 'ops/seaweedfs/', 'ops/haproxy/', 'node/e2e/', 'node/config.ts'];

/** The layer of a repo path, or null outside the layered folders. */
export function layerOf(rel) {
  if (CONTRACT_FILES.includes(rel) || CONTRACT_DIRS.some((d) => rel.startsWith(d))) return 'contract';
  const top = rel.split('/')[0];
  return Object.hasOwn(LAYERS, top) && rel.includes('/') ? top : null;
}

/** How a message names an imported path: node/ by subfolder (node/host/), the rest by top folder. */
function targetLabel(rel) {
  const parts = rel.split('/');
  if (layerOf(rel) === 'contract') return `the core contract (${rel})`;
  if (parts[0] === 'node') return parts.length > 2 ? `node/${parts[1]}/` : rel;
  return `${parts[0]}/`;
}

function sourceLabel(rel, layer) {
  return layer === 'contract' ? `the core contract (${rel})` : LAYERS[layer].label;
}

/**
 * The broken rule for an import of `spec` from the repo file `fromRel`, as a message,
 * or null when the import is allowed (or not a relative import between layers).
 */
export function checkImport(fromRel, spec) {
  if (!spec.startsWith('.')) return null;
  const from = layerOf(fromRel);
  if (from === null) return null;
  // NodeNext: sources import their .ts files by the .js name.
  const toRel = path.posix.normalize(path.posix.join(path.posix.dirname(fromRel), spec)).replace(/\.js$/, '.ts');
  const to = layerOf(toRel);
  if (to === null || LAYERS[from].may.includes(to)) return null;
  if (TEST_SUPPORT.some((re) => re.test(fromRel)) && TEST_EXTRAS.some((d) => toRel.startsWith(d))) return null;
  const allowed = LAYERS[from].may.filter((l) => l !== from).map((l) => LAYERS[l].label);
  const may = allowed.length === 0 ? 'imports only itself' : `may import ${allowed.join(', ')}`;
  return `${sourceLabel(fromRel, from)} may not import ${targetLabel(toRel)} (${LAYERS[from].label} ${may}; layers: ${DOC})`;
}

/** The specifier string of a node, when it is a string literal. */
function literal(n) {
  if (!n) return null;
  if (n.type === 'Literal' && typeof n.value === 'string') return n.value;
  // typescript-eslint: import('x').T has a TSLiteralType argument.
  if (n.type === 'TSLiteralType') return literal(n.literal);
  return null;
}

const rule = {
  meta: {
    type: 'problem',
    docs: { description: `imports go one way down the layers (${DOC})` },
    schema: [],
  },
  create(context) {
    const rel = path.relative(REPO_ROOT, context.filename).split(path.sep).join('/');
    if (rel.startsWith('..') || path.isAbsolute(rel)) return {};
    const check = (node, specNode) => {
      const spec = literal(specNode);
      if (spec === null) return;
      const message = checkImport(rel, spec);
      if (message !== null) context.report({ node: specNode, message });
    };
    return {
      ImportDeclaration: (n) => check(n, n.source),
      ExportNamedDeclaration: (n) => check(n, n.source),
      ExportAllDeclaration: (n) => check(n, n.source),
      ImportExpression: (n) => check(n, n.source),
      TSImportType: (n) => check(n, n.argument),
      TSExternalModuleReference: (n) => check(n, n.expression),
      CallExpression: (n) => {
        if (n.callee.type === 'Identifier' && n.callee.name === 'require') check(n, n.arguments[0]);
      },
    };
  },
};

export const layersPlugin = { rules: { layers: rule } };
