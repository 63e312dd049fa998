/**
 * WebSocket and other Upgrades: relayed with their upgrade headers to the picked backend;
 * on 101 the two sockets are joined both ways; any other answer is a normal response.
 * A tunnel counts as in flight at its backend while open, has its own idle timeout, and
 * is closed at shutdown after the drain deadline. h2c is never relayed; other tokens
 * only with --allow-upgrade.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { request } from 'undici';
import { startEchoBackend } from '../fixtures/websocket-echo.ts';
import { rawExchange, startTestBalancer, waitFor } from '../helpers.ts';

async function open(url: string): Promise<WebSocket> {
  const socket = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve(), { once: true });
    socket.addEventListener('error', () => reject(new Error(`could not open ${url}`)), { once: true });
  });
  return socket;
}

async function metric(t: TestContext, adminPort: number, name: string): Promise<number> {
  const text = await (await request(`http://127.0.0.1:${adminPort}/metrics`)).body.text();
  const values = [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].map((match) => Number(match[1]));
  t.diagnostic(`${name}: ${values.join(', ')}`);
  return values.reduce((sum, value) => sum + value, 0);
}

test('a WebSocket through the balancer: 10,000 messages each way arrive in order, and the tunnel counts as in flight while open', async (t) => {
  const backend = await startEchoBackend(t);
  const balancer = await startTestBalancer(t, ['--threads', '2', '--admin-port', '0', '--algorithm', 'least-connections', '--backend', backend.origin]);
  const adminPort = balancer.admin?.port ?? assert.fail('no admin listener');
  const socket = await open(`ws://127.0.0.1:${balancer.port}/chat?room=1`);
  t.after(() => socket.close());
  assert.equal(backend.upgrades.length, 1);
  assert.equal(backend.upgrades[0]?.upgrade, 'websocket');
  assert.ok(backend.upgrades[0]?.['sec-websocket-key'], 'the handshake headers reach the backend');
  assert.equal(await metric(t, adminPort, 'switchyard_backend_in_flight'), 1);
  assert.equal(await metric(t, adminPort, 'switchyard_listener_tunnels_open'), 1);
  const received: string[] = [];
  const all = new Promise<void>((resolve) => {
    socket.addEventListener('message', (event) => {
      received.push(String(event.data));
      if (received.length === 10_000) resolve();
    });
  });
  for (let i = 0; i < 10_000; i++) socket.send(`message ${i} ${'x'.repeat(i % 300)}`);
  await all;
  assert.ok(received.every((message, i) => message === `message ${i} ${'x'.repeat(i % 300)}`), 'every echo, in order');
  socket.close(1000, 'done');
  await waitFor(async () => (await metric(t, adminPort, 'switchyard_backend_in_flight')) === 0, 'the tunnel to leave the in-flight count');
  assert.equal(await metric(t, adminPort, 'switchyard_listener_tunnels_open'), 0);
  await waitFor(() => backend.open === 0, 'the backend side to close');
});

test('a client that vanishes mid-stream closes the backend side too and releases the in-flight count', async (t) => {
  const backend = await startEchoBackend(t);
  const balancer = await startTestBalancer(t, ['--threads', '1', '--admin-port', '0', '--backend', backend.origin]);
  const adminPort = balancer.admin?.port ?? assert.fail('no admin listener');
  const key = Buffer.from('0123456789abcdef').toString('base64');
  const { response } = await rawExchange(
    balancer.port,
    `GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`,
    { timeoutMs: 300 },
  );
  assert.match(response, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  assert.match(response, /\r\nSec-WebSocket-Accept: /i);
  // rawExchange destroyed its socket at the timeout: the client is gone mid-tunnel.
  await waitFor(() => backend.open === 0, 'the backend side of the tunnel to close');
  await waitFor(async () => (await metric(t, adminPort, 'switchyard_backend_in_flight')) === 0, 'the in-flight count to be released');
});

test('an upgrade the backend declines is relayed as a normal response; h2c and unlisted tokens are relayed as plain requests without Upgrade', async (t) => {
  const backend = await startEchoBackend(t);
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', backend.origin]);
  const ask = (upgrade: string) =>
    rawExchange(balancer.port, `GET /u HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: ${upgrade}\r\n\r\n`, { timeoutMs: 2_000 });
  // The echo backend answers a websocket upgrade without its key... with 101 anyway; a
  // token it does not speak with 400, which comes back as it is.
  const withAllowed = await startTestBalancer(t, ['--threads', '1', '--allow-upgrade', 'foo/1', '--backend', backend.origin]);
  const declined = await rawExchange(withAllowed.port, 'GET /u HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: foo/1\r\n\r\n', { timeoutMs: 2_000 });
  assert.match(declined.response, /^HTTP\/1\.1 400 Bad Request\r\n/);
  assert.equal(backend.upgrades.at(-1)?.upgrade, 'foo/1', 'an allowed token reaches the backend');
  const h2c = await ask('h2c');
  assert.match(h2c.response, /^HTTP\/1\.1 200 OK\r\n[\s\S]*plain GET \/u upgrade=none$/);
  const unlisted = await ask('foo/1');
  assert.match(unlisted.response, /plain GET \/u upgrade=none$/);
  assert.equal(backend.upgrades.length, 1, 'only the allowed token was relayed as an upgrade');
});

test('--tunnel-idle-timeout closes a silent tunnel; shutdown closes open tunnels at its deadline', async (t) => {
  const backend = await startEchoBackend(t);
  const idle = await startTestBalancer(t, ['--threads', '1', '--tunnel-idle-timeout', '300ms', '--backend', backend.origin]);
  const quiet = await open(`ws://127.0.0.1:${idle.port}/`);
  const closed = new Promise((resolve) => quiet.addEventListener('close', resolve, { once: true }));
  await closed;
  await waitFor(() => backend.open === 0, 'the idle tunnel to close at the backend');

  const draining = await startTestBalancer(t, ['--threads', '1', '--backend', backend.origin]);
  const busy = await open(`ws://127.0.0.1:${draining.port}/`);
  const ended = new Promise((resolve) => busy.addEventListener('close', resolve, { once: true }));
  const aborted = await draining.stop(300);
  await ended;
  assert.equal(aborted, 1, 'the open tunnel was still running at the deadline');
});

test('--allow-upgrade refuses h2c and malformed tokens by name', async () => {
  const { parseCli, UsageError } = await import('../../src/config/cli.ts');
  for (const [value, why] of [
    ['h2c', /h2c is never relayed/],
    ['a b', /expected an Upgrade token/],
  ] as const) {
    assert.throws(() => parseCli(['--admin-port', 'off', '--allow-upgrade', value]), (error: unknown) => error instanceof UsageError && why.test(error.message));
  }
});
