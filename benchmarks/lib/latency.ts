/**
 * Latency histograms. Values are recorded in microseconds (HDR, 3 significant digits)
 * and reported in milliseconds. hdr-histogram-js is used in its pure-JS mode so the
 * benchmark needs no WebAssembly init step.
 */
import * as hdr from 'hdr-histogram-js';

export interface LatencySummary {
  count: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

/** Percentile plot points (percentile, ms) for the HTML report. */
export type PercentileCurve = Array<[number, number]>;

// One hour in µs: anything slower is a hang, not a latency, and is clamped.
const HIGHEST_US = 3_600_000_000;

export class Latency {
  private h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 3 });

  recordMs(ms: number): void {
    this.h.recordValue(Math.min(HIGHEST_US, Math.max(1, Math.round(ms * 1000))));
  }

  get count(): number {
    return this.h.totalCount;
  }

  reset(): void {
    this.h.reset();
  }

  /** Compressed form for sending a histogram from a worker process to the coordinator. */
  encode(): string {
    return hdr.encodeIntoCompressedBase64(this.h);
  }

  /** Merge a histogram encoded by another process (HDR histograms add exactly). */
  addEncoded(b64: string): void {
    this.h.add(hdr.decodeFromCompressedBase64(b64));
  }

  summary(): LatencySummary {
    const at = (p: number): number => round(this.h.getValueAtPercentile(p) / 1000);
    return {
      count: this.h.totalCount,
      meanMs: round(this.h.totalCount ? this.h.mean / 1000 : 0),
      p50Ms: at(50),
      p90Ms: at(90),
      p99Ms: at(99),
      p999Ms: at(99.9),
      maxMs: round(this.h.maxValue / 1000),
    };
  }

  /** Points on a log-scaled percentile axis (50, 90, 99, 99.9, ...), as HdrHistogram plots do. */
  curve(): PercentileCurve {
    if (this.h.totalCount === 0) return [];
    const pts: PercentileCurve = [];
    for (const p of [0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100]) pts.push([p, round(this.h.getValueAtPercentile(p) / 1000)]);
    return pts;
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
