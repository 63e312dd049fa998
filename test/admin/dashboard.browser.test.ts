/**
 * The live dashboard in a real browser: headless Chromium (the Debian package, driven by
 * playwright-core in real time) opens the admin listener's page while the balancer
 * serves traffic. The totals the page shows are those of /metrics, request for request;
 * a backend ejected during the test shows as ejected within a second; the page
 * reconnects by itself after the balancer restarts; 30 backends still fit the page.
 *
 * Without /usr/bin/chromium these tests skip and say why; under CI=true they fail instead.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { test, type TestContext } from 'node:test';
import { chromium, type Page } from 'playwright-core';
import { EJECTION } from '../../src/shared/layout.ts';
import { createClient } from '../fixtures/e2e-traffic.ts';
import { scrape, valueOf } from '../fixtures/prometheus-text.ts';
import { startBackend, startTestBalancer, waitFor, type TestBackend, type TestBalancer } from '../helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** The bound: a backend ejected is shown as such within a second. */
const SHOWN_WITHIN_MS = 1_000;

/** True (after skipping the test) when Chromium is not installed; under CI=true that fails the test. */
function chromiumMissing(t: TestContext): boolean {
  if (existsSync(CHROMIUM)) return false;
  const reason = `Chromium not found at ${CHROMIUM}: apt-get install chromium`;
  if (process.env.CI === 'true') assert.fail(`CI=true, and ${reason}`);
  t.skip(reason);
  return true;
}

interface Dashboard {
  readonly page: Page;
  /** Uncaught errors on the page, and requests it made anywhere but the admin listener. */
  readonly problems: string[];
}

/** Opens the dashboard of the admin listener on `adminPort` in a fresh headless Chromium. */
async function openDashboard(t: TestContext, adminPort: number, viewport = { width: 1280, height: 900 }): Promise<Dashboard> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport });
  const origin = `http://127.0.0.1:${adminPort}`;
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('request', (request) => {
    if (!request.url().startsWith(`${origin}/`)) problems.push(`a request outside the admin listener: ${request.url()}`);
  });
  await page.goto(`${origin}/`, { waitUntil: 'domcontentloaded' });
  return { page, problems };
}

interface PageFigures {
  readonly connection: string;
  readonly backends: ReadonlyArray<{ id: string; origin: string; requests: number; requestsText: string; state: string }>;
  readonly listeners: ReadonlyArray<{ index: string; requests: number; connections: number }>;
  readonly feed: readonly string[];
}

/** Runs in the page (a string: the test's TypeScript has no DOM types). */
const READ_FIGURES = `(() => {
  const cell = (row, field) => row.querySelector('[data-field="' + field + '"]');
  const exact = (row, field) => Number(cell(row, field).dataset.value);
  return {
    connection: document.getElementById('connection').dataset.connection,
    backends: [...document.querySelectorAll('#backends tr[data-backend-id]')].map((row) => ({
      id: row.dataset.backendId,
      origin: cell(row, 'origin').textContent,
      requests: exact(row, 'requests'),
      requestsText: cell(row, 'requests').textContent,
      state: cell(row, 'state').dataset.state,
    })),
    listeners: [...document.querySelectorAll('#listeners tr[data-listener]')].map((row) => ({
      index: row.dataset.listener,
      requests: exact(row, 'requests'),
      connections: exact(row, 'connections'),
    })),
    feed: [...document.querySelectorAll('#feed li')].map((item) => item.textContent),
  };
})()`;

/**
 * Resolves once `expression` is true in the page. Polled from here: Playwright's
 * waitForFunction evaluates a string with eval, which the page's CSP forbids.
 */
const pageWaitFor = (page: Page, expression: string, what: string): Promise<void> =>
  waitFor(async () => (await page.evaluate(expression)) === true, what, { timeoutMs: 10_000, intervalMs: 10 });

const readFigures = (page: Page): Promise<PageFigures> => page.evaluate(READ_FIGURES) as Promise<PageFigures>;

/** What the page should say, from /metrics: request totals by backend and by listener thread. */
async function metricsView(adminPort: number, origins: readonly string[], threads: number) {
  const { exposition } = await scrape(adminPort);
  return {
    backends: origins.map((origin, id) => ({ id: String(id), origin, requests: valueOf(exposition, 'switchyard_backend_requests_total', { backend: origin, id: String(id) }) })),
    listeners: Array.from({ length: threads }, (_, i) => ({
      index: String(i),
      requests: valueOf(exposition, 'switchyard_listener_requests_total', { listener: String(i) }),
      connections: valueOf(exposition, 'switchyard_listener_connections_total', { listener: String(i) }),
    })),
  };
}

/**
 * Waits until the page shows exactly the totals of /metrics (traffic has stopped, so
 * they no longer move), then asserts it, so that a mismatch fails with both views.
 */
async function assertPageMatchesMetrics(page: Page, balancer: TestBalancer, origins: readonly string[], threads: number): Promise<PageFigures> {
  const expected = await metricsView(balancer.admin!.port, origins, threads);
  const shown = async () => {
    const figures = await readFigures(page);
    return { figures, view: { backends: figures.backends.map(({ id, origin, requests }) => ({ id, origin, requests })), listeners: figures.listeners } };
  };
  const deadline = Date.now() + 10_000;
  let latest = await shown();
  while (!isDeepStrictEqual(latest.view, expected) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    latest = await shown();
  }
  assert.deepEqual(latest.view, expected, 'the page shows the totals of /metrics');
  for (const backend of latest.figures.backends) assert.equal(backend.requestsText.replaceAll(',', ''), String(backend.requests), 'the exact total is the one printed');
  return latest.figures;
}

/** Sends `count` requests over 4 clients at once, every other one on a fresh connection (spread over the threads by the kernel). */
async function driveTraffic(t: TestContext, balancer: TestBalancer, count: number): Promise<void> {
  const clients = Array.from({ length: 4 }, () => createClient(t, balancer.url, { connections: 2 }));
  const answers = await Promise.all(clients.map((client, c) => client.sequence(count / 4, (i) => `/traffic/${c}/${i}`)));
  assert.deepEqual(answers.flat().filter((answer) => answer.status !== 200), [], 'every request was answered 200');
}

const startBackends = (t: TestContext, count: number): Promise<TestBackend[]> =>
  Promise.all(Array.from({ length: count }, () => startBackend(t, (_req, res) => res.end('ok'))));
const backendArgs = (backends: readonly TestBackend[]): string[] => backends.flatMap((b) => ['--backend', b.origin]);

test('the dashboard shows, live, the request totals of /metrics for every backend and every listener thread', async (t) => {
  if (chromiumMissing(t)) return;
  const backends = await startBackends(t, 2);
  const balancer = await startTestBalancer(t, ['--threads', '2', '--admin-port', '0', ...backendArgs(backends)]);
  const { page, problems } = await openDashboard(t, balancer.admin!.port);
  await pageWaitFor(page, `document.getElementById('connection').dataset.connection === 'live'`, 'the page to go live');

  await driveTraffic(t, balancer, 80);
  const figures = await assertPageMatchesMetrics(page, balancer, backends.map((b) => b.origin), 2);
  assert.deepEqual(figures.backends.map((b) => b.requests), backends.map((b) => b.received.length), 'and those are what each backend received');
  assert.equal(figures.listeners.reduce((sum, l) => sum + l.requests, 0), 80);
  assert.deepEqual(figures.backends.map((b) => b.state), ['up', 'up']);
  assert.equal(await page.locator('#chart canvas').count(), 1, 'the requests/s chart is drawn');
  assert.deepEqual(problems, []);
});

test('a backend ejected during the test is shown as ejected within a second of the ejection in shared state', async (t) => {
  if (chromiumMissing(t)) return;
  const backends = await startBackends(t, 3);
  const doomed = backends[2]!;
  // A long ejection: no trial request ends it during the test.
  const balancer = await startTestBalancer(t, ['--threads', '2', '--admin-port', '0', '--eject-after', '1', '--eject-time', '60s', ...backendArgs(backends)]);
  const slot = balancer.state.slotOf(doomed.origin);
  const { page, problems } = await openDashboard(t, balancer.admin!.port);
  const stateOnPage = `document.querySelector('[data-backend-id="${slot}"] [data-field="state"]')?.dataset.state`;
  await pageWaitFor(page, `${stateOnPage} === 'up'`, 'the backend shown up');
  await driveTraffic(t, balancer, 12);

  // Refused at connect from now on: its next request fails, and --eject-after 1 ejects it.
  await new Promise<void>((resolve) => {
    doomed.server.close(() => resolve());
    doomed.server.closeAllConnections();
  });
  const client = createClient(t, balancer.url);
  let ejected = false;
  const sending = (async () => {
    for (let i = 0; !ejected; i++) assert.equal((await client.send(`/after/${i}`, { fresh: i % 2 === 1 })).status, 200);
  })();
  // Awaited below; this only keeps a failure from going unhandled if the test fails first.
  sending.catch(() => {});
  try {
    await waitFor(() => balancer.state.load(slot, 'ejection') !== EJECTION.in, 'the ejection in shared state', { timeoutMs: 10_000, intervalMs: 1 });
  } finally {
    ejected = true;
  }
  const ejectedAt = Date.now();
  await pageWaitFor(page, `${stateOnPage} === 'ejected'`, 'the backend shown ejected');
  const shownAfterMs = Date.now() - ejectedAt;
  t.diagnostic(`shown as ejected ${shownAfterMs} ms after the ejection was seen in shared state`);
  await sending;

  assert.ok(shownAfterMs <= SHOWN_WITHIN_MS, `shown as ejected ${shownAfterMs} ms after the ejection; the bound is ${SHOWN_WITHIN_MS} ms`);
  const figures = await readFigures(page);
  assert.match(await page.locator(`[data-backend-id="${slot}"] [data-field="state"]`).innerText(), /^ejected · \d+\.\d s left$/);
  assert.ok(figures.feed.some((line) => line.includes(`backend :${doomed.port} ejected for`)), `the event feed tells of it: ${figures.feed.join(' | ')}`);
  assert.deepEqual(figures.backends.filter((b) => b.id !== String(slot)).map((b) => b.state), ['up', 'up']);
  assert.deepEqual(problems, []);
});

test('the page reconnects by itself when the balancer restarts, says so meanwhile, and then shows the new process figures', async (t) => {
  if (chromiumMissing(t)) return;
  const backends = await startBackends(t, 2);
  const first = await startTestBalancer(t, ['--threads', '2', '--admin-port', '0', ...backendArgs(backends)]);
  const adminPort = first.admin!.port;
  const { page, problems } = await openDashboard(t, adminPort);
  await driveTraffic(t, first, 40);
  await assertPageMatchesMetrics(page, first, backends.map((b) => b.origin), 2);

  await first.stop(2_000);
  await pageWaitFor(page, `document.getElementById('connection').dataset.connection === 'reconnecting'`, 'the page to say it is reconnecting');
  assert.equal(await page.locator('#connection').innerText(), 'reconnecting…');

  // The same admin port, as a restarted balancer would have; its counters start from zero.
  const second = await startTestBalancer(t, ['--threads', '2', '--admin-port', String(adminPort), ...backendArgs(backends)]);
  await driveTraffic(t, second, 20);
  const figures = await assertPageMatchesMetrics(page, second, backends.map((b) => b.origin), 2);
  assert.equal(figures.listeners.reduce((sum, l) => sum + l.requests, 0), 20, 'the figures of the new process, not the old one');
  assert.equal(figures.connection, 'live');
  assert.ok(figures.feed.some((line) => line.includes('the balancer restarted')), `the event feed tells of the restart: ${figures.feed.join(' | ')}`);
  assert.deepEqual(problems, []);
});

test('with 30 backends the page still fits: one row and one column each, exact totals, no sideways scrolling, a compact legend', async (t) => {
  if (chromiumMissing(t)) return;
  const backends = await startBackends(t, 30);
  const balancer = await startTestBalancer(t, ['--threads', '2', '--admin-port', '0', ...backendArgs(backends)]);
  const { page, problems } = await openDashboard(t, balancer.admin!.port);
  await driveTraffic(t, balancer, 120);
  const figures = await assertPageMatchesMetrics(page, balancer, backends.map((b) => b.origin), 2);
  assert.deepEqual(figures.backends.map((b) => b.requests), backends.map((b) => b.received.length));

  assert.equal(await page.locator('#backend-columns .column').count(), 30);
  const layout = (await page.evaluate(`(() => ({
    sideways: document.documentElement.scrollWidth - window.innerWidth,
    narrowestColumn: Math.min(...[...document.querySelectorAll('#backend-columns .column')].map((c) => c.getBoundingClientRect().width)),
    legendHeight: document.getElementById('legend').getBoundingClientRect().height,
    rowHeight: document.querySelector('#backends tbody tr').getBoundingClientRect().height,
  }))()`)) as { sideways: number; narrowestColumn: number; legendHeight: number; rowHeight: number };
  assert.ok(layout.sideways <= 0, `the page scrolls sideways by ${layout.sideways} px`);
  assert.ok(layout.narrowestColumn >= 4, `a backend's column is ${layout.narrowestColumn} px wide`);
  assert.ok(layout.legendHeight <= 24, `the legend is ${layout.legendHeight} px tall: one line`);
  assert.ok(layout.rowHeight <= 32, `a backend row is ${layout.rowHeight} px tall`);
  assert.deepEqual(problems, []);
});
