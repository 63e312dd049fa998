/**
 * --upstream-connections: a listener thread opens at most N connections to a backend;
 * requests beyond them wait their turn, and one that waits past --connect-timeout is
 * answered 503 without ever reaching the backend.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Agent, request } from 'undici';
import { errorCodeIndex } from '../../src/errors.ts';
import { configFrom, startBackend, startTestBalancer, waitFor } from '../helpers.ts';

test('with --upstream-connections 1, concurrent requests take turns on one connection and all succeed', async (t) => {
  let running = 0;
  let most = 0;
  let connections = 0;
  const backend = await startBackend(t, (_req, res) => {
    most = Math.max(most, ++running);
    setTimeout(() => {
      running--;
      res.end('ok');
    }, 30);
  });
  backend.server.on('connection', () => connections++);
  const balancer = await startTestBalancer(t, ['--threads', '1', '--upstream-connections', '1', '--backend', backend.origin]);
  const client = new Agent({ connections: 8 });
  t.after(() => client.close());
  const answers = await Promise.all(
    Array.from({ length: 8 }, async (_, i) => {
      const res = await request(`${balancer.url}/${i}`, { dispatcher: client });
      return { status: res.statusCode, body: await res.body.text() };
    }),
  );
  assert.deepEqual(
    answers.map(({ status, body }) => `${status} ${body}`),
    Array.from({ length: 8 }, () => '200 ok'),
  );
  assert.equal(backend.received.length, 8);
  assert.equal(most, 1, 'never two requests at the backend at once');
  assert.equal(connections, 1, 'one upstream connection, reused');
});

test('a request that waits past --connect-timeout for a free connection gets 503 BACKEND_BUSY and never reaches the backend', async (t) => {
  // Holds the first request until told; answers the others at once.
  const held: Array<() => void> = [];
  const backend = await startBackend(t, (req, res) => {
    if (req.url === '/first') held.push(() => res.end('first'));
    else res.end('later');
  });
  const balancer = await startTestBalancer(t, ['--threads', '1', '--upstream-connections', '1', '--connect-timeout', '300ms', '--backend', backend.origin]);
  const client = new Agent({ connections: 4 });
  t.after(() => client.close());

  const first = request(`${balancer.url}/first`, { dispatcher: client });
  await waitFor(() => held.length === 1, 'the first request held at the backend');
  const second = await request(`${balancer.url}/second`, { dispatcher: client });
  const body = await second.body.text();
  assert.equal(second.statusCode, 503);
  assert.equal(second.headers['x-switchyard-error'], 'BACKEND_BUSY');
  assert.equal(second.headers['retry-after'], '1');
  assert.match(body, /^503 Service Unavailable: no connection to http:\/\/127\.0\.0\.1:\d+ became free within 300 ms \(--upstream-connections 1\)\n$/);

  held[0]?.();
  const answered = await first;
  assert.equal(answered.statusCode, 200);
  assert.equal(await answered.body.text(), 'first');
  // The expired request is dropped when its turn comes, not sent late: the backend saw
  // only the first, and it serves the next request normally.
  const third = await request(`${balancer.url}/third`, { dispatcher: client });
  assert.equal(third.statusCode, 200);
  assert.equal(await third.body.text(), 'later');
  assert.deepEqual(
    backend.received.map(({ url }) => url),
    ['/first', '/third'],
  );
  await waitFor(() => balancer.state.load(0, 'inFlight') === 0, 'in-flight count back to 0');
  assert.equal(balancer.state.headerCountAt('answered', errorCodeIndex('BACKEND_BUSY')), 1);
  assert.equal(balancer.state.snapshot(0).failures, 0, 'waiting for our own limit is not the backend failing');
});

test('--upstream-connections takes a whole number from 1 to 100000; no limit by default', () => {
  assert.equal(configFrom([]).upstream.maxConnections, null);
  assert.equal(configFrom(['--upstream-connections', '8']).upstream.maxConnections, 8);
  for (const bad of ['0', '1.5', 'many', '100001', '']) {
    assert.throws(() => configFrom(['--upstream-connections', bad]), {
      message: `--upstream-connections ${JSON.stringify(bad)} is not allowed: expected a whole number from 1 to 100000`,
    });
  }
});
