/**
 * The import graph of the repo's TypeScript sources, read with the `typescript`
 * package's parser (no regexes): every relative module specifier of an import or
 * export declaration, an `import x = require()`, a dynamic `import()` and an
 * `import('...').T` type, resolved to a repo path. Package imports (`node:fs`,
 * `etcd3`) are not edges. Used by cycles.ts; the layer rule in lint resolves the
 * same specifiers on its own (ops/lint/layers.js).
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { TEST_SUPPORT } from './layers.js';

/** The folders whose sources are the product (tsconfig.json `include`). */
export const SOURCE_ROOTS = ['protocol', 'supervisor', 'shards', 'node', 'ops', 'benchmarks'];

/**
 * Tests and test support are not product files, so the cycle check leaves them out
 * (a test importing what it tests, and its helpers, is no cycle of the product). The
 * list is the layer rule's (ops/lint/layers.js TEST_SUPPORT).
 */
export function isTestSupport(rel: string): boolean {
  return TEST_SUPPORT.some((re) => re.test(rel));
}

export interface ImportEdge {
  /** Repo path of the imported file, e.g. `node/core/ops.ts`. */
  to: string;
  /** The specifier as written. */
  spec: string;
  /** `import type`, `export type` or an `import('...')` type: no runtime edge. */
  typeOnly: boolean;
}

/** Every .ts file under the source roots (generated code included), as repo paths. */
export function listSources(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(path.join(root, dir))) {
      if (name === 'node_modules' || name.startsWith('.')) continue;
      const rel = `${dir}/${name}`;
      const st = statSync(path.join(root, rel));
      if (st.isDirectory()) walk(rel);
      else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(rel);
    }
  };
  for (const r of SOURCE_ROOTS) if (existsSync(path.join(root, r))) walk(r);
  return out.sort();
}

/** `./x.js` from `node/core/a.ts` -> `node/core/x.ts` (NodeNext: sources import their .js names). */
export function resolveSpec(fromRel: string, spec: string, root: string): string | null {
  if (!spec.startsWith('.')) return null;
  const joined = path.posix.normalize(path.posix.join(path.posix.dirname(fromRel), spec));
  const candidates = [joined.replace(/\.js$/, '.ts'), joined, `${joined}.ts`, `${joined}/index.ts`];
  for (const c of candidates) if (existsSync(path.join(root, c)) && statSync(path.join(root, c)).isFile()) return c;
  return joined.replace(/\.js$/, '.ts');
}

/** The relative imports of one source file. */
export function importsOf(rel: string, root: string): ImportEdge[] {
  const text = readFileSync(path.join(root, rel), 'utf8');
  const sf = ts.createSourceFile(rel, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: ImportEdge[] = [];
  const add = (spec: string, typeOnly: boolean): void => {
    const to = resolveSpec(rel, spec, root);
    if (to !== null) out.push({ to, spec, typeOnly });
  };
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
      const c = n.importClause;
      const allTypes =
        c !== undefined &&
        (c.isTypeOnly ||
          (c.name === undefined &&
            c.namedBindings !== undefined &&
            ts.isNamedImports(c.namedBindings) &&
            c.namedBindings.elements.length > 0 &&
            c.namedBindings.elements.every((e) => e.isTypeOnly)));
      add(n.moduleSpecifier.text, allTypes);
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      add(n.moduleSpecifier.text, n.isTypeOnly);
    } else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference) && ts.isStringLiteral(n.moduleReference.expression)) {
      add(n.moduleReference.expression.text, n.isTypeOnly);
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) {
      add(n.arguments[0].text, false);
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) {
      add(n.argument.literal.text, true);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** file -> the files it imports (targets outside the given set are dropped). */
export type Graph = Map<string, Set<string>>;

export function buildGraph(root: string, files: string[], opts: { typeEdges?: boolean } = {}): Graph {
  const set = new Set(files);
  const g: Graph = new Map();
  for (const f of files) {
    const to = new Set<string>();
    for (const e of importsOf(f, root)) {
      if (!set.has(e.to) || e.to === f) continue;
      if (e.typeOnly && opts.typeEdges === false) continue;
      to.add(e.to);
    }
    g.set(f, to);
  }
  return g;
}

/**
 * The folder a file belongs to in the folder graph: its directory, except that the
 * loose files of a directory that also has subfolders are each a unit of their own
 * (node/main.ts, the root of the tree, and node/config.ts, the schema every part
 * reads, sit in one directory at opposite ends of the layers; counted as one folder
 * they would make node/ and every subfolder a "cycle" that says nothing).
 */
export function folderUnit(file: string, dirsWithSubfolders: Set<string>): string {
  const dir = path.posix.dirname(file);
  return dirsWithSubfolders.has(dir) ? file : dir;
}

/** The graph of folders: an edge a -> b for each file edge from folder a to folder b (see folderUnit). */
export function folderGraph(g: Graph): Graph {
  const parents = new Set<string>();
  for (const f of g.keys()) {
    const dir = path.posix.dirname(f);
    for (let d = path.posix.dirname(dir); d !== '.'; d = path.posix.dirname(d)) parents.add(d);
  }
  const out: Graph = new Map();
  for (const [f, tos] of g) {
    const a = folderUnit(f, parents);
    if (!out.has(a)) out.set(a, new Set());
    for (const t of tos) {
      const b = folderUnit(t, parents);
      if (b !== a) out.get(a)!.add(b);
    }
  }
  return out;
}

/** Strongly connected components of more than one node (Tarjan), each sorted, largest first. */
export function cyclesOf(g: Graph): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  const strong = (v: string): void => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v) ?? []) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const v of [...g.keys()].sort()) if (!idx.has(v)) strong(v);
  return out.sort((a, b) => b.length - a.length || a[0].localeCompare(b[0]));
}

/** One shortest loop through `start` inside its component, for a readable report. */
export function loopThrough(g: Graph, comp: string[], start: string): string[] {
  const inComp = new Set(comp);
  const prev = new Map<string, string>();
  const queue = [start];
  const seen = new Set([start]);
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of g.get(v) ?? []) {
      if (!inComp.has(w)) continue;
      if (w === start) {
        const loop = [v];
        for (let p = v; p !== start; ) loop.unshift((p = prev.get(p)!));
        return [...loop, start];
      }
      if (!seen.has(w)) {
        seen.add(w);
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}
