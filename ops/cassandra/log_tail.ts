/** The last lines of a node's logs, for error messages that have to explain a failed start. */
import { existsSync, readFileSync } from 'node:fs';

export function tailFile(file: string, lines = 30): string {
  if (!existsSync(file)) return `(${file} does not exist)`;
  // Logs are rolled at 20 MB, so reading the whole file is bounded.
  const all = readFileSync(file, 'utf8').trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

export function tailLogs(files: readonly string[], lines = 30): string {
  return files.map((f) => `--- ${f} (last ${lines} lines) ---\n${tailFile(f, lines)}`).join('\n');
}
