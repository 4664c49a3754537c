/**
 * Split a CQL script into statements on top-level semicolons, so `exec` can run a
 * schema file or "CREATE ...; INSERT ...; SELECT ..." in one call (the driver takes
 * one statement per request). Semicolons inside '...' strings, "..." identifiers,
 * $$...$$ bodies and comments do not split.
 */
export function splitCql(script: string): string[] {
  const out: string[] = [];
  let cur = '';
  let i = 0;
  const n = script.length;
  while (i < n) {
    const c = script[i];
    const two = script.slice(i, i + 2);
    if (two === '--' || two === '//') {
      const end = script.indexOf('\n', i);
      i = end === -1 ? n : end + 1;
      cur += '\n';
    } else if (two === '/*') {
      const end = script.indexOf('*/', i + 2);
      i = end === -1 ? n : end + 2;
      cur += ' ';
    } else if (two === '$$') {
      const end = script.indexOf('$$', i + 2);
      const stop = end === -1 ? n : end + 2;
      cur += script.slice(i, stop);
      i = stop;
    } else if (c === "'" || c === '"') {
      // A doubled quote inside a quoted run is an escaped quote, not the end.
      let j = i + 1;
      while (j < n) {
        if (script[j] === c) {
          if (script[j + 1] === c) j += 2;
          else break;
        } else j += 1;
      }
      cur += script.slice(i, j + 1);
      i = j + 1;
    } else if (c === ';') {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
      i += 1;
    } else {
      cur += c;
      i += 1;
    }
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}
