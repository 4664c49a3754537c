/**
 * The HTML report beside each result.json: a summary table, the charts (inline SVG
 * from svg.ts) and the full JSON, in one self-contained file.
 */
import { writeFileSync } from 'node:fs';
import { renderChart, type Chart } from './svg.js';

export interface ReportTable {
  title: string;
  header: string[];
  rows: Array<Array<string | number>>;
}

export interface ReportInput {
  title: string;
  envelope: unknown;
  tables?: ReportTable[];
  charts: Chart[];
  /** One line each under the title: the command, when, the machine and its load. */
  meta?: string[];
  /** How to read the figures; shown under the tables. */
  notes?: string[];
}

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const json = (v: unknown): string => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? Number(x) : x), 2);

export function renderReport(r: ReportInput): string {
  const tables = (r.tables ?? [])
    .map(
      (t) =>
        `<h2>${esc(t.title)}</h2><table><tr>${t.header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${t.rows
          .map((row) => `<tr>${row.map((c) => `<td>${esc(typeof c === 'number' ? Number(c.toPrecision(6)).toLocaleString('en-US') : c)}</td>`).join('')}</tr>`)
          .join('')}</table>`,
    )
    .join('\n');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>body{font-family:sans-serif;margin:24px;max-width:1000px}table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#f4f4f4}pre{background:#f8f8f8;padding:8px;font-size:11px;overflow:auto;max-height:480px}svg{display:block;margin:12px 0}.meta{margin:2px 0;font-size:13px;color:#444}.notes{font-size:12px;color:#333}</style>
</head><body>
<h1>${esc(r.title)}</h1>
${(r.meta ?? []).map((m) => `<p class="meta">${esc(m)}</p>`).join('\n')}
${tables}
${(r.notes ?? []).length ? `<ul class="notes">${r.notes!.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
${r.charts.map(renderChart).join('\n')}
<h2>result.json</h2><pre>${esc(json(r.envelope))}</pre>
</body></html>
`;
}

export function writeReport(file: string, r: ReportInput): void {
  writeFileSync(file, renderReport(r));
}
