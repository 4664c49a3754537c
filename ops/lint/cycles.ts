/**
 * `npm run check:cycles`: folder cycles and file cycles (strongly connected components
 * of the import graph) among product files, tests and test support left out
 * (import_graph.ts). Exits 1 and prints each cycle with one loop through it when
 * there is any. Type-only imports count: a type cycle between two files is still
 * two files that cannot be read, moved or layered apart.
 *
 *   npm run check:cycles              # the repo
 *   npm run check:cycles -- --json    # machine-readable
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildGraph, cyclesOf, folderGraph, isTestSupport, listSources, loopThrough, type Graph } from './import_graph.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface Cycle {
  /** Every member of the strongly connected component. */
  members: string[];
  /** One loop through the first member, e.g. [a, b, a]. */
  loop: string[];
}

export interface CycleReport {
  files: number;
  fileCycles: Cycle[];
  folderCycles: Cycle[];
}

function describe(g: Graph): Cycle[] {
  return cyclesOf(g).map((members) => ({ members, loop: loopThrough(g, members, members[0]) }));
}

export function checkCycles(root = REPO_ROOT): CycleReport {
  const files = listSources(root).filter((f) => !isTestSupport(f));
  const g = buildGraph(root, files);
  return { files: files.length, fileCycles: describe(g), folderCycles: describe(folderGraph(g)) };
}

export function formatReport(r: CycleReport): string {
  const lines = [`${r.files} product files: ${r.folderCycles.length} folder cycle(s), ${r.fileCycles.length} file cycle(s)`];
  for (const [kind, cycles] of [['folder', r.folderCycles], ['file', r.fileCycles]] as const) {
    for (const c of cycles) {
      lines.push(`${kind} cycle (${c.members.length}): ${c.members.join(', ')}`);
      lines.push(`  e.g. ${c.loop.join(' -> ')}`);
    }
  }
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = checkCycles();
  console.log(process.argv.includes('--json') ? JSON.stringify(r, null, 2) : formatReport(r));
  process.exitCode = r.fileCycles.length + r.folderCycles.length > 0 ? 1 : 0;
}
