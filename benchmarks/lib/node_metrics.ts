/**
 * The figures a bench reads from a node's /metrics around a measured window: the host
 * main loop's delay (switchboard_host_loop_delay_seconds, reset by every scrape: read
 * it first at the end of a window), batches committed and ops by kind (for rows per
 * commit). A node without the loop-delay gauge falls back to prom-client's
 * nodejs_eventloop_lag_* (10 ms sampling; also reset per scrape).
 */

export interface NodeMetrics {
  loopDelay: { p50Ms: number; p99Ms: number; maxMs: number; source: string } | null;
  batchesCommitted: number;
  opsCommitted: Record<string, number>;
}

export async function scrapeNode(httpUrl: string): Promise<NodeMetrics | null> {
  let text: string;
  try {
    text = await fetch(`${httpUrl}/metrics`).then((r) => r.text());
  } catch {
    return null;
  }
  const own: Record<string, number> = {};
  const prom: Record<string, number> = {};
  const ops: Record<string, number> = {};
  let batches = 0;
  for (const line of text.split('\n')) {
    let m = /^switchboard_host_loop_delay_seconds\{quantile="([^"]+)"\} (\S+)$/.exec(line);
    if (m) own[m[1]] = Number(m[2]) * 1000;
    m = /^nodejs_eventloop_lag_(p50|p99|max)_seconds (\S+)$/.exec(line);
    if (m) prom[m[1]] = Number(m[2]) * 1000;
    m = /^switchboard_store_ops_committed_total\{kind="([^"]+)"\} (\S+)$/.exec(line);
    if (m) ops[m[1]] = Number(m[2]);
    m = /^switchboard_store_batches_committed (\S+)$/.exec(line);
    if (m) batches = Number(m[1]);
  }
  const r = (x: number | undefined): number => Math.round((x ?? 0) * 100) / 100;
  const loopDelay =
    own['1'] !== undefined
      ? { p50Ms: r(own['0.5']), p99Ms: r(own['0.99']), maxMs: r(own['1']), source: 'switchboard_host_loop_delay_seconds (2 ms sampling)' }
      : prom.max !== undefined
        ? { p50Ms: r(prom.p50 - 10), p99Ms: r(prom.p99 - 10), maxMs: r(prom.max - 10), source: 'nodejs_eventloop_lag (10 ms sampling, minus 10 ms)' }
        : null;
  return { loopDelay, batchesCommitted: batches, opsCommitted: ops };
}
