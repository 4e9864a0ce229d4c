import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * The dashboard's files, served from this machine (no CDN): our page, script and styles from
 * `web/` beside this module (`src/admin/web` in a checkout, `dist/admin/web` once built, the
 * build copies them) and uPlot's from the installed `uplot` package. Read at each request,
 * so an edited page shows on reload.
 */

/** A file the dashboard serves. */
interface Asset {
  readonly contentType: string;
  /** Absolute path, resolved at first use. */
  readonly path: () => string;
}

const require = createRequire(import.meta.url);

/** The folder of our own web files: beside this module, else the sources' (a build without the copy step). */
function webDir(): string {
  const candidates = [new URL('./web/', import.meta.url), new URL('../../src/admin/web/', import.meta.url)].map((url) => fileURLToPath(url));
  return candidates.find((dir) => existsSync(`${dir}index.html`)) ?? candidates[0]!;
}

const web = (name: string) => () => `${webDir()}${name}`;
const uplot = (name: string) => () => require.resolve(`uplot/dist/${name}`);

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

/** What `/` and `/assets/<name>` serve. */
const ASSETS: ReadonlyMap<string, Asset> = new Map([
  ['index.html', { contentType: 'text/html; charset=utf-8', path: web('index.html') }],
  ['app.js', { contentType: JS, path: web('app.js') }],
  ['app.css', { contentType: CSS, path: web('app.css') }],
  ['uPlot.iife.min.js', { contentType: JS, path: uplot('uPlot.iife.min.js') }],
  ['uPlot.min.css', { contentType: CSS, path: uplot('uPlot.min.css') }],
]);

/** The file named `name` (e.g. `app.js`) with its content type, or undefined when the dashboard has no such file. */
export async function readAsset(name: string): Promise<{ body: Buffer; contentType: string } | undefined> {
  const asset = ASSETS.get(name);
  if (!asset) return undefined;
  return { body: await readFile(asset.path()), contentType: asset.contentType };
}
