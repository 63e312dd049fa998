/**
 * @module Takes the README's picture of the dashboard under load (docs/dashboard.png):
 * starts the balancer (4 listener threads) in front of a few small backends with
 * different latencies and one more that dies after KILL_AFTER_S, drives a steady load
 * over keep-alive and fresh connections, and screenshots the whole page in headless
 * Chromium at the end: the dead backend's band leaves the chart, and its ejections and
 * failed trials (each ejection twice as long) fill the event feed. Not run by the tests
 * or CI; takes `--seconds` (70 by default, so that the chart's minute is full).
 *
 *   node scripts/dashboard-screenshot.ts [--backends 3] [--seconds 70] [--out docs/dashboard.png]
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { Agent, request } from 'undici';
import { parseCli } from '../src/config/cli.ts';
import { startBalancer } from '../src/supervisor/supervisor.ts';

const CHROMIUM = '/usr/bin/chromium';
const KILL_AFTER_S = 20;
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const { values } = parseArgs({
  options: {
    backends: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '70' },
    out: { type: 'string', default: 'docs/dashboard.png' },
    height: { type: 'string', default: '900' },
  },
});
const backendCount = Number(values.backends);
const seconds = Number(values.seconds);

/** A backend that answers after about `delayMs` (a little jitter, and a rare slow answer). */
async function startBackend(delayMs: number): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    req.resume();
    const delay = delayMs * (0.6 + Math.random() * 0.8) + (Math.random() < 0.01 ? delayMs * 8 : 0);
    setTimeout(() => res.end('ok\n'), delay);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const backends = await Promise.all(Array.from({ length: backendCount }, (_, i) => startBackend(1 + (i % 4) * 1.5)));
const doomed = await startBackend(2);
const parsed = parseCli([
  '--port', '0', '--admin-port', '0', '--threads', '4', '--eject-after', '1', '--eject-time', '10s',
  ...[...backends, doomed].flatMap(({ origin }) => ['--backend', origin]),
]);
if (parsed.kind !== 'run') throw new Error('expected a runnable config');
const balancer = await startBalancer(parsed.config);
if (balancer.admin === null) throw new Error('the admin listener did not start');
const adminUrl = `http://127.0.0.1:${balancer.admin.port}/`;
const url = `http://127.0.0.1:${balancer.port}`;

const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
const page = await browser.newPage({ viewport: { width: 1280, height: Number(values.height) } });
await page.goto(adminUrl, { waitUntil: 'domcontentloaded' });

// Keep-alive clients reuse their connections; fresh ones open one per request, which the
// kernel spreads over the listener threads by its hash: the uneven left-hand columns.
let running = true;
const agent = new Agent({ connections: 64 });
const loop = async (fresh: boolean): Promise<void> => {
  while (running) {
    try {
      const res = await request(`${url}/work`, { dispatcher: agent, reset: fresh });
      await res.body.dump();
    } catch {
      // A request cut by the killed backend: the dashboard's event feed shows it.
    }
  }
};
const clients = [...Array.from({ length: 6 }, () => loop(false)), ...Array.from({ length: 6 }, () => loop(true))];

const killAt = Math.min(KILL_AFTER_S, seconds / 2) * 1000;
await new Promise((resolve) => setTimeout(resolve, killAt));
doomed.server.closeAllConnections();
doomed.server.close();
await new Promise((resolve) => setTimeout(resolve, seconds * 1000 - killAt));

await page.screenshot({ path: values.out, fullPage: true });
console.log(`wrote ${values.out} (${backendCount + 1} backends, ${seconds} s of load)`);

running = false;
await Promise.all(clients);
await browser.close();
await agent.close();
await balancer.stop(2_000);
for (const { server } of backends) server.close();
