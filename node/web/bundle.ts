/**
 * The web chat's assets: the HTML and CSS as they sit in this folder, and one script
 * bundled by esbuild from ui/app.ts (the UI and the SDK, protocol/sdk/) for the
 * browser. Built on first use and kept in memory for the life of the process: no
 * network, no files written. Asset names carry a content hash so they can be cached
 * forever, while index.html is revalidated on every load.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export interface Asset {
  name: string;
  contentType: string;
  text: string;
}

export interface WebAssets {
  index: Asset;
  /** By file name (app.<hash>.js, style.<hash>.css). */
  byName: Map<string, Asset>;
}

const DIR = fileURLToPath(new URL('.', import.meta.url));

function hashed(base: string, ext: string, text: string): string {
  return `${base}.${createHash('sha256').update(text).digest('hex').slice(0, 12)}.${ext}`;
}

export async function buildAssets(): Promise<WebAssets> {
  const out = await build({
    entryPoints: [`${DIR}ui/app.ts`],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    // Chromium, Firefox and Safari releases of the last two years all run ES2022.
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const js = out.outputFiles[0].text;
  const css = readFileSync(`${DIR}style.css`, 'utf8');
  const app: Asset = { name: hashed('app', 'js', js), contentType: 'text/javascript; charset=utf-8', text: js };
  const style: Asset = { name: hashed('style', 'css', css), contentType: 'text/css; charset=utf-8', text: css };
  const html = readFileSync(`${DIR}index.html`, 'utf8').replace('%APP_JS%', app.name).replace('%STYLE_CSS%', style.name);
  return {
    index: { name: 'index.html', contentType: 'text/html; charset=utf-8', text: html },
    byName: new Map([app, style].map((a) => [a.name, a])),
  };
}
