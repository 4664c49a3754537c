/**
 * Flag parsing for the bench CLI: `--name value`, `--name=value` and bare `--flag`
 * (true). Values are typed at the point of use so every scenario documents its own
 * flags and defaults in one place.
 */
export type Flags = Map<string, string | true>;

export function parseFlags(argv: string[]): Flags {
  const out: Flags = new Map();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${JSON.stringify(a)} (flags look like --rate 2000)`);
    const eq = a.indexOf('=');
    if (eq > 0) {
      out.set(a.slice(2, eq), a.slice(eq + 1));
      continue;
    }
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      out.set(a.slice(2), next);
      i++;
    } else out.set(a.slice(2), true);
  }
  return out;
}

export function num(flags: Flags, name: string, dflt: number): number {
  const v = flags.get(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v === true || !Number.isFinite(n)) throw new Error(`--${name} needs a number (got ${JSON.stringify(v)})`);
  return n;
}

export function bool(flags: Flags, name: string): boolean {
  const v = flags.get(name);
  return v === true || v === 'true' || v === '1';
}

export function str(flags: Flags, name: string, dflt: string): string {
  const v = flags.get(name);
  return v === undefined || v === true ? dflt : v;
}

/** Refuse flags a scenario does not know, so a typo is not silently a default. */
export function checkKnown(flags: Flags, known: string[]): void {
  for (const k of flags.keys()) {
    if (!known.includes(k)) throw new Error(`unknown flag --${k} (known: ${known.map((x) => '--' + x).join(' ')})`);
  }
}

/** A duration in seconds: `30`, `30s`, `3m` or `1h` (the acceptance commands say `--duration 3m`). */
export function seconds(flags: Flags, name: string, dflt: number): number {
  const v = flags.get(name);
  if (v === undefined) return dflt;
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(v) : null;
  if (!m) throw new Error(`--${name} needs a duration like 30, 30s, 3m or 1h (got ${JSON.stringify(v)})`);
  return Number(m[1]) * ({ s: 1, m: 60, h: 3600 } as const)[(m[2] ?? 's') as 's' | 'm' | 'h'];
}
