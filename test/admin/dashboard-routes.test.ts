/**
 * The dashboard's files, without a browser: every file the page refers to is served by
 * the admin listener with its content type and a CSP that allows nothing from elsewhere;
 * uPlot is npm's own copy; other methods get 405; paths outside the list are not files.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { request } from 'undici';
import { startTestBalancer } from '../helpers.ts';

test('GET / serves the page, and every script and stylesheet it names is served with its type; nothing comes from elsewhere', async (t) => {
  const balancer = await startTestBalancer(t, ['--admin-port', '0']);
  const base = `http://127.0.0.1:${balancer.admin!.port}`;
  const page = await request(`${base}/`);
  const html = await page.body.text();
  assert.equal(page.statusCode, 200);
  assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
  const csp = String(page.headers['content-security-policy']);
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self';/);
  assert.match(csp, /connect-src 'self';/);
  assert.equal(page.headers['x-content-type-options'], 'nosniff');

  const referenced = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
  assert.deepEqual(referenced.filter((ref) => !ref.startsWith('/')), [], 'the page names only files of the admin listener');
  const modules = [...readFileSync(new URL('../../src/admin/dashboard/dashboard.js', import.meta.url), 'utf8').matchAll(/from '\.(\/[^']+)'/g)].map((m) => m[1]!);
  assert.ok(modules.length >= 3, 'dashboard.js imports its modules');
  for (const path of [...referenced, ...modules]) {
    const res = await request(`${base}${path}`);
    const body = await res.body.text();
    assert.equal(res.statusCode, 200, `${path}: ${body}`);
    const expected = path.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8';
    assert.equal(res.headers['content-type'], expected, path);
    assert.equal(res.headers['content-length'], String(Buffer.byteLength(body)), path);
  }

  const uplot = await request(`${base}/uplot.js`);
  const vendored = readFileSync(createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
  assert.equal(await uplot.body.text(), vendored, 'uPlot is the copy npm installed');

  const head = await request(`${base}/dashboard.css`, { method: 'HEAD' });
  assert.equal(head.statusCode, 200);
  assert.equal(await head.body.text(), '');

  const post = await request(`${base}/dashboard.js`, { method: 'POST' });
  assert.equal(post.statusCode, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
  await post.body.dump();

  for (const path of ['/dashboard/index.html', '/../package.json', '/uplot.min.css', '/index.html']) {
    const res = await request(`${base}${path}`);
    assert.equal(res.statusCode, 404, path);
    assert.match(await res.body.text(), /^404 Not Found: /);
  }
});
