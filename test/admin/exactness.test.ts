import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Agent, buildConnector, request } from 'undici';
import { ERROR_CODES, STATUS_BY_CODE, type ErrorCode } from '../../src/errors.ts';
import { scrape, samplesOf, sumOf, valueOf } from '../fixtures/prometheus-text.ts';
import { deadPort, rawExchange, startBackend, startTestBalancer, statusOf, waitFor, within } from '../helpers.ts';

const LISTENERS = 2;
const BACKENDS = 3;
const KEEP_ALIVE_REQUESTS = 450;
const FRESH_CONNECTION_REQUESTS = 150;
const REQUESTS = KEEP_ALIVE_REQUESTS + FRESH_CONNECTION_REQUESTS;

/** An undici Agent that counts the TCP connections it opens. */
function countingAgent(connections: number): { agent: Agent; opened: () => number } {
  let opened = 0;
  const connect = buildConnector({});
  const agent = new Agent({
    connections,
    pipelining: 1,
    connect: (options, callback) => {
      opened++;
      connect(options, callback);
    },
  });
  return { agent, opened: () => opened };
}

test(`after ${REQUESTS} requests through ${LISTENERS} listener threads, /metrics equals what ${BACKENDS} backends counted, request for request`, async (t) => {
  const backends = await Promise.all(Array.from({ length: BACKENDS }, (_, i) => startBackend(t, (_req, res) => res.end(`backend ${i}`))));
  const balancer = await startTestBalancer(t, ['--threads', String(LISTENERS), '--admin-port', '0', ...backends.flatMap((b) => ['--backend', b.origin])]);
  const adminPort = balancer.admin?.port ?? assert.fail('no admin listener');
  const keepAlive = countingAgent(16);
  const fresh = countingAgent(8);
  t.after(() => Promise.all([keepAlive.agent.close(), fresh.agent.close()]));

  const send = async (i: number, dispatcher: Agent, reset: boolean): Promise<void> => {
    const res = await request(`${balancer.url}/item/${i}`, { dispatcher, reset });
    assert.equal(res.statusCode, 200);
    assert.match(await res.body.text(), /^backend \d$/);
  };
  await within(
    Promise.all([
      ...Array.from({ length: KEEP_ALIVE_REQUESTS }, (_, i) => send(i, keepAlive.agent, false)),
      // `reset`: connection: close, so each of these arrives on a connection of its own,
      // which the kernel hands to either listener thread.
      ...Array.from({ length: FRESH_CONNECTION_REQUESTS }, (_, i) => send(KEEP_ALIVE_REQUESTS + i, fresh.agent, true)),
    ]),
    `${REQUESTS} requests`,
    30_000,
  );
  // In-flight gauges drop just after the last byte is written: wait for them before reading.
  await waitFor(() => balancer.state.header('requestsInFlight') === 0, 'requests in flight to return to 0');

  const { exposition: metrics } = await scrape(adminPort);
  for (const [i, backend] of backends.entries()) {
    const labels = { backend: backend.origin, id: String(i) };
    const received = backend.received.length;
    t.diagnostic(`${backend.origin}: received ${received}`);
    assert.equal(valueOf(metrics, 'switchyard_backend_requests_total', labels), received, `requests_total of ${backend.origin}`);
    assert.equal(valueOf(metrics, 'switchyard_backend_responses_total', { ...labels, code: '2xx' }), received, `2xx of ${backend.origin}`);
    assert.equal(valueOf(metrics, 'switchyard_backend_response_seconds_count', labels), received, `histogram _count of ${backend.origin}`);
    assert.equal(valueOf(metrics, 'switchyard_backend_response_seconds_bucket', { ...labels, le: '+Inf' }), received);
    assert.equal(sumOf(metrics, 'switchyard_backend_responses_total', labels), received, 'no response of another class');
    assert.equal(sumOf(metrics, 'switchyard_backend_failures_total', labels), 0);
    assert.equal(valueOf(metrics, 'switchyard_backend_retries_total', labels), 0);
    assert.equal(valueOf(metrics, 'switchyard_backend_in_flight', labels), 0);
  }
  assert.equal(
    backends.reduce((sum, b) => sum + b.received.length, 0),
    REQUESTS,
    'every request reached exactly one backend once',
  );
  assert.equal(sumOf(metrics, 'switchyard_backend_requests_total'), REQUESTS);

  const perListener = samplesOf(metrics, 'switchyard_listener_requests_total').map((s) => s.value);
  t.diagnostic(`requests per listener thread: ${perListener.join(' / ')}; connections opened: ${keepAlive.opened() + fresh.opened()}`);
  assert.equal(perListener.length, LISTENERS);
  assert.equal(sumOf(metrics, 'switchyard_listener_requests_total'), REQUESTS, 'requests counted by the listener threads');
  assert.ok(
    perListener.every((n) => n > 0),
    `every listener thread served some of the ${FRESH_CONNECTION_REQUESTS} fresh connections: ${perListener.join(' / ')}`,
  );
  assert.equal(sumOf(metrics, 'switchyard_listener_connections_total'), keepAlive.opened() + fresh.opened(), 'connections counted by the listener threads');
  assert.equal(sumOf(metrics, 'switchyard_balancer_responses_total'), 0, 'the balancer answered nothing itself');
  assert.equal(valueOf(metrics, 'switchyard_requests_in_flight'), 0);

  // Scrapes go to the admin port: they are no proxied requests.
  const { exposition: again } = await scrape(adminPort);
  assert.equal(sumOf(again, 'switchyard_listener_requests_total'), REQUESTS);
  assert.equal(sumOf(again, 'switchyard_backend_requests_total'), REQUESTS);
});

test("the balancer's own answers are counted by status and error code, and a refused backend's failures by reason", async (t) => {
  const live = await startBackend(t, (_req, res) => res.end('live'));
  const dead = `http://127.0.0.1:${await deadPort()}`;
  // No retries and no ejection: every request picked for the dead backend becomes one 502.
  const balancer = await startTestBalancer(t, [
    '--threads', String(LISTENERS), '--admin-port', '0', '--retries', '0', '--eject-after', '0',
    '--backend', live.origin, '--backend', dead,
  ]);
  const adminPort = balancer.admin?.port ?? assert.fail('no admin listener');
  const agent = new Agent({ connections: 1 });
  t.after(() => agent.close());
  const seen = new Map<number, number>();
  const get = async (path: string): Promise<void> => {
    const res = await request(`${balancer.url}${path}`, { dispatcher: agent, reset: true, headersTimeout: 10_000, bodyTimeout: 10_000 });
    await res.body.dump();
    seen.set(res.statusCode, (seen.get(res.statusCode) ?? 0) + 1);
  };

  // Round robin over two backends: half of these go to the dead one.
  for (let i = 0; i < 6; i++) await get(`/rr/${i}`);
  for (const backend of [live.origin, dead]) balancer.table.disableBackend(backend);
  for (let i = 0; i < 2; i++) await get(`/none/${i}`);
  const raw = [
    { request: `GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`, status: 431 },
    { request: 'POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', status: 400 },
    { request: 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n', status: 400 }, // no Host
  ];
  for (const { request: bytes, status } of raw) {
    const { response } = await rawExchange(balancer.port, bytes);
    assert.equal(statusOf(response), status, response);
    seen.set(status, (seen.get(status) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(seen), { 200: 3, 502: 3, 503: 2, 431: 1, 400: 2 }, 'what the client saw');

  const expected: Partial<Record<ErrorCode, number>> = { BACKEND_FAILED: 3, NO_BACKEND: 2, HEADERS_TOO_LARGE: 1, BAD_REQUEST: 2 };
  const { exposition: metrics } = await scrape(adminPort);
  assert.deepEqual(
    Object.fromEntries(samplesOf(metrics, 'switchyard_balancer_responses_total').map((s) => [`${s.labels.status} ${s.labels.error}`, s.value])),
    Object.fromEntries(ERROR_CODES.map((code) => [`${STATUS_BY_CODE[code]} ${code}`, expected[code] ?? 0])),
  );

  const deadLabels = { backend: dead, id: '1' };
  assert.equal(valueOf(metrics, 'switchyard_backend_requests_total', deadLabels), 3);
  assert.deepEqual(
    samplesOf(metrics, 'switchyard_backend_failures_total', deadLabels).filter((s) => s.value > 0).map((s) => [s.labels.reason, s.value]),
    [['refused', 3]],
  );
  assert.equal(sumOf(metrics, 'switchyard_backend_responses_total', deadLabels), 0);
  assert.equal(valueOf(metrics, 'switchyard_backend_response_seconds_count', deadLabels), 0);

  const liveLabels = { backend: live.origin, id: '0' };
  assert.equal(live.received.length, 3);
  assert.equal(valueOf(metrics, 'switchyard_backend_requests_total', liveLabels), 3);
  assert.equal(valueOf(metrics, 'switchyard_backend_responses_total', { ...liveLabels, code: '2xx' }), 3);
  assert.equal(sumOf(metrics, 'switchyard_backend_failures_total', liveLabels), 0);
  assert.deepEqual(samplesOf(metrics, 'switchyard_backend_up').map((s) => s.value), [0, 0], 'both disabled');
});
