/**
 * Summarises V8 .cpuprofile files (one per thread, from the probe's sampling
 * profiler) into a top list of self time: which functions the node's threads spent
 * the measured window in. (idle) is left out: it is the thread waiting, not work.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../../ops/lib/results.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface TopFunction {
  fn: string;
  where: string;
  role: string;
  /** Self CPU in the window, ms. */
  selfMs: number;
  /** Share of all sampled non-idle time in the window, over every profiled thread. */
  pct: number;
  /** Self CPU per message (µs) when a message count is given. */
  usPerMsg: number | null;
}

/** Where a function lives, short: a repo path, or the package / node builtin. */
function where(url: string, line: number): string {
  if (!url) return '';
  let p = url.startsWith('file://') ? url.slice(7) : url;
  const nm = p.lastIndexOf('/node_modules/');
  if (nm >= 0) p = p.slice(nm + 14).split('/').slice(0, p.slice(nm + 14).startsWith('@') ? 2 : 1).join('/');
  else if (p.startsWith(ROOT)) p = `${path.relative(ROOT, p)}:${line + 1}`;
  return p;
}

export function topFunctions(files: Array<{ role: string; file: string }>, messages: number, limit = 25): { top: TopFunction[]; sampledMs: number; byRole: Record<string, number> } {
  const self = new Map<string, TopFunction>();
  let total = 0;
  const byRole: Record<string, number> = {};
  for (const f of files) {
    let prof: CpuProfile;
    try {
      prof = JSON.parse(readFileSync(f.file, 'utf8')) as CpuProfile;
    } catch {
      continue;
    }
    const samples = prof.samples ?? [];
    const deltas = prof.timeDeltas ?? [];
    const byId = new Map(prof.nodes.map((n) => [n.id, n]));
    // Each sample is charged the time until the next one (µs); the last gets the mean.
    const mean = samples.length ? (prof.endTime - prof.startTime) / samples.length : 0;
    for (let i = 0; i < samples.length; i++) {
      const n = byId.get(samples[i]);
      if (!n) continue;
      const name = n.callFrame.functionName || '(anonymous)';
      if (name === '(idle)') continue;
      const us = i + 1 < deltas.length ? Math.max(0, deltas[i + 1]) : mean;
      const w = where(n.callFrame.url, n.callFrame.lineNumber);
      const key = `${f.role}|${name}|${w}`;
      const cur = self.get(key) ?? { fn: name, where: w, role: f.role, selfMs: 0, pct: 0, usPerMsg: null };
      cur.selfMs += us / 1000;
      self.set(key, cur);
      total += us / 1000;
      byRole[f.role] = (byRole[f.role] ?? 0) + us / 1000;
    }
  }
  const top = [...self.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, limit);
  for (const t of top) {
    t.pct = total > 0 ? Math.round((t.selfMs / total) * 1000) / 10 : 0;
    t.usPerMsg = messages > 0 ? Math.round(((t.selfMs * 1000) / messages) * 10) / 10 : null;
    t.selfMs = Math.round(t.selfMs);
  }
  return { top, sampledMs: Math.round(total), byRole: Object.fromEntries(Object.entries(byRole).map(([k, v]) => [k, Math.round(v)])) };
}
