/**
 * Wait for the first report matching a predicate, for tests and tools that need to see
 * something happen in real time (real threads and processes exit on their own schedule).
 */
import type { SupervisorReport } from './reports.js';

export interface ReportSource {
  onReport(listener: (report: SupervisorReport) => void): () => void;
}

export function waitForReport(source: ReportSource, matches: (report: SupervisorReport) => boolean): Promise<SupervisorReport> {
  return new Promise((resolve) => {
    const off = source.onReport((report) => {
      if (!matches(report)) return;
      off();
      resolve(report);
    });
  });
}
