/**
 * @module GET /: the live dashboard, one page and its few static files, all served by the
 * admin listener (no CDN, no build step), and the event stream that feeds it
 * (events-stream.ts). The page's own files live in ./dashboard/; the chart library,
 * uPlot, comes from node_modules as npm installed it. Each file is read once, at its
 * first request, and then served from memory.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { AdminRoute } from './admin-context.ts';
import { eventsRoute } from './events-stream.ts';
import { refuseMethod } from './respond.ts';

interface Asset {
  /** A path on disk. */
  readonly file: string;
  readonly contentType: string;
}

const page = (name: string): string => fileURLToPath(new URL(`./dashboard/${name}`, import.meta.url));
const vendored = (name: string): string => createRequire(import.meta.url).resolve(`uplot/dist/${name}`);
const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

/** Every path this route serves; nothing else is read from disk, whatever the URL says.
 * Resolved at first use, so that a missing file fails that request, not the balancer's start. */
const ASSETS: ReadonlyMap<string, () => Asset> = new Map([
  ['/', () => ({ file: page('index.html'), contentType: 'text/html; charset=utf-8' })],
  ['/dashboard.css', () => ({ file: page('dashboard.css'), contentType: CSS })],
  ['/dashboard.js', () => ({ file: page('dashboard.js'), contentType: JS })],
  ['/dashboard-model.js', () => ({ file: page('dashboard-model.js'), contentType: JS })],
  ['/dashboard-view.js', () => ({ file: page('dashboard-view.js'), contentType: JS })],
  ['/dashboard-chart.js', () => ({ file: page('dashboard-chart.js'), contentType: JS })],
  ['/uplot.js', () => ({ file: vendored('uPlot.iife.min.js'), contentType: JS })],
  ['/uplot.css', () => ({ file: vendored('uPlot.min.css'), contentType: CSS })],
]);

/**
 * The page runs only its own files: no inline script, nothing fetched from elsewhere.
 * Inline styles stay allowed because uPlot positions its parts with them.
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

const loaded = new Map<string, Promise<Buffer>>();

function contentOf(path: string, asset: Asset): Promise<Buffer> {
  let content = loaded.get(path);
  if (content === undefined) {
    content = readFile(asset.file);
    // A failed read is tried again at the next request rather than remembered.
    content.catch(() => loaded.delete(path));
    loaded.set(path, content);
  }
  return content;
}

/** The page, its files and GET /events. */
export const dashboardRoutes: AdminRoute = async (req, res, url, context) => {
  const assetOf = ASSETS.get(url.pathname);
  if (assetOf === undefined) return eventsRoute(req, res, url, context);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    refuseMethod(res, req.method, url.pathname, ['GET', 'HEAD']);
    return true;
  }
  const asset = assetOf();
  send(res, asset.contentType, await contentOf(url.pathname, asset), req.method === 'HEAD');
  return true;
};

function send(res: ServerResponse, contentType: string, body: Buffer, headOnly: boolean): void {
  res.writeHead(200, { 'content-type': contentType, 'content-length': body.length, 'cache-control': 'no-cache', ...SECURITY_HEADERS });
  res.end(headOnly ? undefined : body);
}
