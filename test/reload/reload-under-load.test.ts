/**
 * 20 reloads under continuous load: keep-alive clients, slow requests, and an open
 * WebSocket. Each reload changes the backend set (one added, then drained and removed),
 * a weight, the algorithm, upstream timeouts (every listener's pools rebuilt) and client
 * limits. Nothing in flight may fail, and the tunnel must stay open and keep echoing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool, request } from 'undici';
import { parseCli } from '../../src/config/cli.ts';
import { startBalancer } from '../../src/supervisor/supervisor.ts';
import { startEchoBackend } from '../fixtures/websocket-echo.ts';
import { startBackend, waitFor, within } from '../helpers.ts';

const RELOADS = 20;
const CLIENTS = 6;
const SLOW_MS = 150;

test(`${RELOADS} reloads under load: zero failed requests, zero closed tunnels`, async (t) => {
  const echo = await startEchoBackend(t);
  const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void => {
    if (req.url === '/slow') setTimeout(() => res.end('slow'), SLOW_MS);
    else res.end('ok');
  };
  const steady = await startBackend(t, handler);
  const coming = await startBackend(t, handler);

  const dir = mkdtempSync(join(tmpdir(), 'switchyard-reload-load-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'switchyard.toml');
  const write = (text: string): void => {
    writeFileSync(`${file}.new`, text);
    renameSync(`${file}.new`, file);
  };
  const backend = (origin: string, weight = 1): string => `[[backends]]\nurl = "${origin}"\nweight = ${weight}\n`;
  const start = `threads = 2\n${backend(echo.origin)}`;
  const versions = [
    `threads = 2\n${backend(echo.origin)}${backend(steady.origin)}\n[routing]\nalgorithm = "round-robin"\n[upstream]\ntimeout = "30s"\n[client]\nkeep-alive-timeout = "10s"\n`,
    `threads = 2\n${backend(echo.origin)}${backend(steady.origin, 3)}${backend(coming.origin)}\n[routing]\nalgorithm = "least-connections"\nretries = 1\n` +
      `[upstream]\ntimeout = "20s"\nconnect-timeout = "3s"\n[client]\nkeep-alive-timeout = "15s"\nmax-body = "1m"\n`,
  ];
  write(start);
  const parsed = parseCli(['--config', file, '--port', '0', '--admin-port', 'off'], {});
  assert.equal(parsed.kind, 'run');
  const logged: string[] = [];
  const balancer = await startBalancer(parsed.config, { log: (line) => logged.push(line), reload: { source: parsed.source, built: parsed.config } });
  t.after(() => balancer.stop(5_000));
  const reloader = balancer.reloader ?? assert.fail('no reloader');
  const url = `http://127.0.0.1:${balancer.port}`;

  // The tunnel opens while the echo backend is the only one, so it is there.
  const socket = new WebSocket(`ws://127.0.0.1:${balancer.port}/chat`);
  await within(new Promise((resolve, reject) => {
    socket.addEventListener('open', resolve, { once: true });
    socket.addEventListener('error', reject, { once: true });
  }), 'the WebSocket to open');
  let tunnelsClosed = 0;
  let echoed = 0;
  socket.addEventListener('close', () => tunnelsClosed++);
  socket.addEventListener('message', () => echoed++);
  t.after(() => socket.close());

  let running = true;
  let sent = 0;
  let wsSent = 0;
  const failures: string[] = [];
  const pools = Array.from({ length: CLIENTS }, () => new Pool(url, { connections: 1, pipelining: 1 }));
  t.after(() => Promise.all(pools.map((pool) => pool.close())));
  const clients = pools.map(async (pool, i) => {
    for (let n = 0; running; n++) {
      const path = (n + i) % 4 === 0 ? '/slow' : '/';
      sent++;
      try {
        const res = await pool.request({ path, method: n % 5 === 0 ? 'POST' : 'GET', body: n % 5 === 0 ? 'hello' : null });
        const text = await res.body.text();
        if (res.statusCode !== 200) failures.push(`${path}: ${res.statusCode} ${text}`);
      } catch (error) {
        failures.push(`${path}: ${(error as Error).message}`);
      }
    }
  });
  const messages = (async () => {
    while (running) {
      socket.send(`message ${wsSent++}`);
      await sleep(20);
    }
  })();

  for (let i = 0; i < RELOADS; i++) {
    const before = sent;
    await waitFor(() => sent >= before + 40, 'load between two reloads', { timeoutMs: 10_000, intervalMs: 5 });
    write(versions[(i + 1) % 2] as string);
    const result = await reloader.reload(`reload ${i + 1}`);
    assert.ok(result.ok, JSON.stringify(result));
  }
  const afterLast = sent;
  await waitFor(() => sent >= afterLast + 40, 'load after the last reload', { timeoutMs: 10_000 });
  running = false;
  await Promise.all([...clients, messages]);
  await waitFor(() => echoed === wsSent, 'every WebSocket message to come back', { timeoutMs: 10_000 });

  t.diagnostic(`requests sent: ${sent}, failed: ${failures.length}; WebSocket messages: ${wsSent} sent, ${echoed} echoed; tunnels closed: ${tunnelsClosed}; reloads: ${RELOADS}`);
  assert.deepEqual(failures, []);
  assert.equal(tunnelsClosed, 0);
  assert.equal(socket.readyState, WebSocket.OPEN);
  assert.equal(echo.open, 1, 'the backend side of the tunnel is still open');
  // The last reload wrote the version without the third backend: it drains and leaves.
  await waitFor(() => !balancer.table.list().some(({ origin }) => origin === coming.origin), 'the removed backend to leave', { timeoutMs: 10_000 });
  assert.equal((await request(url)).statusCode, 200);
  assert.equal(logged.filter((line) => line.startsWith('config reloaded (reload ')).length, RELOADS, logged.join('\n'));
});
