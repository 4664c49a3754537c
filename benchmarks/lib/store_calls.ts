/**
 * Store calls per message, from the node's /metrics (switchboard_store_call_seconds
 * and switchboard_store_ops_committed_total): what each durable message cost the store
 * in reads and commits, and how long those took on average.
 */

export interface StoreSnapshot {
  /** call -> [count, sum of seconds] of successful calls. */
  calls: Map<string, [number, number]>;
  /** op kind -> ops committed. */
  ops: Map<string, number>;
}

export async function storeSnapshot(httpUrl: string): Promise<StoreSnapshot | null> {
  try {
    const text = await fetch(`${httpUrl}/metrics`).then((r) => r.text());
    const calls = new Map<string, [number, number]>();
    const ops = new Map<string, number>();
    for (const line of text.split('\n')) {
      const m = /^switchboard_store_call_seconds_(count|sum)\{([^}]*)\} (\S+)$/.exec(line);
      if (m && /outcome="ok"/.test(m[2])) {
        const call = /call="([^"]+)"/.exec(m[2])![1];
        const cur = calls.get(call) ?? [0, 0];
        cur[m[1] === 'count' ? 0 : 1] = Number(m[3]);
        calls.set(call, cur);
      }
      const o = /^switchboard_store_ops_committed_total\{kind="([^"]+)"\} (\S+)$/.exec(line);
      if (o) ops.set(o[1], Number(o[2]));
    }
    return { calls, ops };
  } catch {
    return null;
  }
}

export interface StoreCallRow {
  call: string;
  perMessage: number;
  meanMs: number;
}

/** Calls per durable message between two snapshots, busiest first; ops committed per message as `ops:<kind>`. */
export function storeCallsPerMessage(a: StoreSnapshot | null, b: StoreSnapshot | null, messages: number): StoreCallRow[] {
  if (!a || !b || messages <= 0) return [];
  const rows: StoreCallRow[] = [];
  for (const [call, [n1, s1]] of b.calls) {
    const [n0, s0] = a.calls.get(call) ?? [0, 0];
    if (n1 > n0) rows.push({ call, perMessage: round((n1 - n0) / messages), meanMs: round(((s1 - s0) / (n1 - n0)) * 1000) });
  }
  for (const [kind, n1] of b.ops) {
    const n0 = a.ops.get(kind) ?? 0;
    if (n1 > n0) rows.push({ call: `ops:${kind}`, perMessage: round((n1 - n0) / messages), meanMs: 0 });
  }
  return rows.sort((x, y) => y.perMessage - x.perMessage);
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
