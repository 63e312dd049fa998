/**
 * The keep-alive pool of one backend under --upstream-connections: what happens to
 * connections that come free while requests wait for one.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import { SwitchyardError } from '../../src/errors.ts';
import type { Timed } from '../../src/shared/deadlines.ts';
import type { ConnectionSettings } from '../../src/upstream/backend-tls.ts';
import { UpstreamPool } from '../../src/upstream/upstream-pool.ts';
import type { UpstreamHandler, UpstreamRequest } from '../../src/upstream/upstream-request.ts';

/** A backend answering every request with `ok`, after `delayMs`. */
async function rawBackend(t: TestContext, delayMs: number): Promise<number> {
  const server = createServer((socket) => {
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (let end = buffered.indexOf('\r\n\r\n'); end >= 0; end = buffered.indexOf('\r\n\r\n')) {
        buffered = buffered.slice(end + 4);
        setTimeout(() => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'), delayMs);
      }
    });
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

function pool(t: TestContext, port: number, timed: Set<Timed>, proxyVersion: 'v1' | null = null): UpstreamPool {
  const settings: ConnectionSettings = { host: '127.0.0.1', port, tls: null, connectMs: 1_000, headersMs: 2_000, bodyIdleMs: 2_000, idleMs: 4_000, maxHeaderBytes: 16_384 };
  const deadlines = { add: (item: Timed) => void timed.add(item), delete: (item: Timed) => void timed.delete(item) };
  const made = new UpstreamPool(settings, 1, deadlines as never, proxyVersion);
  t.after(() => made.destroy());
  return made;
}

function request(client: Socket | null = null): UpstreamRequest {
  const proxy = client === null ? null : { client: { address: '10.0.0.1', port: 1 }, local: { address: '10.0.0.2', port: 2 }, connection: client };
  return { method: 'GET', path: '/', headers: ['host', 'x'], body: null, upgrade: null, proxy };
}

/** A handler whose outcome is a promise; `giveUp`: it aborts as soon as it is started. */
function handler(giveUp = false): { handler: UpstreamHandler; outcome: Promise<string> } {
  let settle!: (outcome: string) => void;
  const outcome = new Promise<string>((resolve) => (settle = resolve));
  const noop = (): void => {};
  return {
    outcome,
    handler: {
      onRequestStart: (control) => (giveUp ? control.abort(new SwitchyardError('BACKEND_BUSY', 'answered already')) : undefined),
      onResponseStart: noop,
      onResponseData: noop,
      onEarlyHints: noop,
      onSwitchProtocols: noop,
      onResponseEnd: () => settle('end'),
      onResponseError: (_control, error) => settle(`error ${(error as { code?: string }).code}`),
    },
  };
}

test('20,000 waiters that give the connection up on start are walked through one by one, not by recursion, and the next real request is served', async (t) => {
  const port = await rawBackend(t, 100);
  const upstream = pool(t, port, new Set());
  const first = handler();
  upstream.dispatch(request(), first.handler);
  const givers = Array.from({ length: 20_000 }, () => handler(true));
  for (const giver of givers) upstream.dispatch(request(), giver.handler);
  const last = handler();
  upstream.dispatch(request(), last.handler);
  assert.equal(await first.outcome, 'end');
  assert.deepEqual(new Set(await Promise.all(givers.map((giver) => giver.outcome))), new Set(['error BACKEND_BUSY']));
  assert.equal(await last.outcome, 'end');
});

test('a connection given up on start goes back idle under its idle timeout', async (t) => {
  const port = await rawBackend(t, 20);
  const timed = new Set<Timed>();
  const upstream = pool(t, port, timed);
  const first = handler();
  const giver = handler(true);
  upstream.dispatch(request(), first.handler);
  upstream.dispatch(request(), giver.handler);
  assert.equal(await first.outcome, 'end');
  assert.equal(await giver.outcome, 'error BACKEND_BUSY');
  assert.equal(timed.size, 1);
  for (const connection of timed) assert.ok(connection.deadline > 0, 'an idle deadline');
});

test('--send-proxy-protocol under the cap: a connection kept for one client makes room when another client waits', async (t) => {
  const port = await rawBackend(t, 20);
  const upstream = pool(t, port, new Set(), 'v1');
  const clientA = Object.assign(new EventEmitter(), { destroyed: false }) as unknown as Socket;
  const clientB = Object.assign(new EventEmitter(), { destroyed: false }) as unknown as Socket;
  const a = handler();
  const b = handler();
  upstream.dispatch(request(clientA), a.handler);
  upstream.dispatch(request(clientB), b.handler);
  assert.equal(await a.outcome, 'end');
  // Before: B waited until A's idle connection timed out (4 s here) or A left.
  assert.equal(await Promise.race([b.outcome, new Promise((resolve) => setTimeout(() => resolve('still waiting'), 1_500))]), 'end');
});
