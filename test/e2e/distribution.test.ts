import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Agent, buildConnector, request } from 'undici';
import { startTestBalancer, startBackend, waitFor, within } from '../helpers.ts';

const LISTENERS = 3;
const BACKENDS = 3;
const REQUESTS = 3_000;
const CONNECTIONS = 64;

test(`${REQUESTS} requests over ${CONNECTIONS} keep-alive connections and ${LISTENERS} listener threads reach each of ${BACKENDS} backends exactly ${REQUESTS / BACKENDS} times`, async (t) => {
  const upstreams = await Promise.all(
    Array.from({ length: BACKENDS }, (_, i) =>
      startBackend(t, (_req, res) => {
        res.setHeader('x-upstream', String(i));
        res.end('ok');
      }),
    ),
  );
  const balancer = await startTestBalancer(t, ['--threads', String(LISTENERS), ...upstreams.flatMap((u) => ['--backend', u.origin])]);

  // Counts the TCP connections the client really opens, to check the listeners' count.
  let opened = 0;
  const connect = buildConnector({});
  const agent = new Agent({
    connections: CONNECTIONS,
    pipelining: 1,
    connect: (options, callback) => {
      opened++;
      connect(options, callback);
    },
  });
  t.after(() => agent.close());

  const answeredBy = new Array<number>(BACKENDS).fill(0);
  await within(
    Promise.all(
      Array.from({ length: REQUESTS }, async (_, i) => {
        const res = await request(`${balancer.url}/r${i}`, { dispatcher: agent });
        assert.equal(res.statusCode, 200);
        assert.equal(await res.body.text(), 'ok');
        const upstream = Number(res.headers['x-upstream']);
        answeredBy[upstream] = (answeredBy[upstream] ?? 0) + 1;
      }),
    ),
    `${REQUESTS} requests`,
    20_000,
  );

  const exact = REQUESTS / BACKENDS;
  assert.deepEqual(
    upstreams.map((u) => u.received.length),
    new Array<number>(BACKENDS).fill(exact),
    'requests received by each upstream',
  );
  assert.deepEqual(answeredBy, new Array<number>(BACKENDS).fill(exact), 'responses the client got from each upstream');
  // Every request arrived exactly once: no request was sent twice or lost.
  const paths = new Set(upstreams.flatMap((u) => u.received.map((r) => r.url)));
  assert.equal(paths.size, REQUESTS);

  // The in-flight gauge is released just after the response's last byte is written, so
  // the client may read it a moment before the listener thread has decremented.
  await waitFor(() => balancer.state.backends().every((b) => b.inFlight === 0), 'every in-flight gauge to return to 0');
  assert.deepEqual(
    balancer.state.backends().map(({ started, failures, inFlight }) => ({ started, failures, inFlight })),
    new Array(BACKENDS).fill({ started: exact, failures: 0, inFlight: 0 }),
  );

  const listeners = balancer.state.listeners();
  listeners.forEach(({ requests, connections }, l) => t.diagnostic(`listener ${l}: ${requests} requests over ${connections} connections`));
  t.diagnostic(`client opened ${opened} connections`);
  assert.equal(
    listeners.reduce((sum, l) => sum + l.requests, 0),
    REQUESTS,
    'requests counted by the listener threads',
  );
  assert.equal(
    listeners.reduce((sum, l) => sum + l.connections, 0),
    opened,
    'connections counted by the listener threads',
  );
});
