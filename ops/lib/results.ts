/**
 * Where results go and what every result carries: the machine it ran on, the exact
 * command and config, and the figures. Each run writes `results/<timestamp>-<scenario>/`
 * (git-ignored) holding `result.json` and, when the scenario has plots, `report.html`.
 */
import os from 'node:os';
import path from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';

export const ROOT = path.resolve(new URL('../..', import.meta.url).pathname);

export interface MachineInfo {
  os: string;
  kernel: string;
  arch: string;
  cpus: number;
  cpuModel: string;
  totalMemGiB: number;
  loadAvg1m: number;
  node: string;
  hostname: string;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    os: `${os.type()} ${os.release()}`,
    kernel: os.version(),
    arch: os.arch(),
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    totalMemGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    // Load at the start tells a reader whether others were using the machine.
    loadAvg1m: Math.round(os.loadavg()[0] * 100) / 100,
    node: process.version,
    hostname: os.hostname(),
  };
}

export interface ResultEnvelope {
  scenario: string;
  startedAt: string;
  finishedAt: string;
  command: string;
  machine: MachineInfo;
  config: unknown;
  figures: unknown;
}

/** Results dir for one run; `base` lets tests write into a temp dir. */
export function resultDir(scenario: string, startedAt: Date, base = path.join(ROOT, 'results')): string {
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const dir = path.join(base, `${stamp}-${scenario}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** bigints (protobuf seqs) become numbers; figures never need more than 2^53. */
export function writeJson(file: string, v: unknown): void {
  writeFileSync(file, JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? Number(x) : x), 2) + '\n');
}
