import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { request } from 'undici';
import { deadPort, startBackend, startTestBalancer } from '../helpers.ts';

const TOKEN = 'status-test-token-0123456789';
const STICKY_SECRET = 'sticky-secret-that-must-not-show';
const AUTH = { authorization: `Bearer ${TOKEN}` };
/** A request that hangs fails the test in seconds, not after undici's 5 minutes. */
const FAIL_FAST = { headersTimeout: 10_000, bodyTimeout: 10_000 } as const;
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

async function adminGet(port: number, path: string, method: 'GET' | 'HEAD' = 'GET', headers: Record<string, string> = {}) {
  const res = await request(`http://127.0.0.1:${port}${path}`, { method, headers, ...FAIL_FAST });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

/** The fields of /status this test reads. */
interface StatusReport {
  version: string;
  uptimeSeconds: number;
  config: Record<string, unknown> & { threads: number; algorithm: string; retries: number; admin: { tokenRequired: boolean }; sticky: { cookie: string } | null };
  generation: number;
  roundRobin: { ticket: number; wrap: number };
  backends: Array<{
    id: number;
    origin: string;
    state: string;
    healthy: boolean;
    up: boolean;
    ejection: string;
    ejectedForMs: number;
    weight: number;
    effectiveWeight: number;
    requests: number;
    failures: number;
    responses: Record<string, number>;
    latency: { count: number; p50Ms: number | null; p99Ms: number | null; ewmaMs: number };
  }>;
  listeners: Array<{ index: number; accepting: boolean; connections: number; connectionsOpen: number; requests: number; eventLoopDelay: { p99Ms: number; maxMs: number }; restarts: number }>;
}

test('/status: the config summary without secrets, every slot with its counters and latency, every listener thread, the ticket and the generation', async (t) => {
  const backends = await Promise.all([0, 1].map((i) => startBackend(t, (_req, res) => res.end(`b${i}`))));
  const balancer = await startTestBalancer(t, [
    '--threads', '2', '--admin-port', '0', '--admin-token', TOKEN,
    '--sticky-cookie', 'pin', '--sticky-secret', STICKY_SECRET,
    '--backend', backends[0]!.origin, '--backend', `${backends[1]!.origin},weight=3`,
  ]);
  const port = balancer.admin!.port;
  const REQUESTS = 8;
  for (let i = 0; i < REQUESTS; i++) await (await request(`${balancer.url}/s/${i}`, FAIL_FAST)).body.dump();

  const res = await adminGet(port, '/status', 'GET', AUTH);
  assert.equal(res.status, 200, res.body);
  assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
  assert.ok(!res.body.includes(TOKEN), 'the admin token is not shown');
  assert.ok(!res.body.includes(STICKY_SECRET), 'the sticky secret is not shown');
  const status = JSON.parse(res.body) as StatusReport;

  assert.equal(status.version, VERSION);
  assert.ok(status.uptimeSeconds >= 0 && status.uptimeSeconds < 600, `uptime ${status.uptimeSeconds}`);
  assert.equal(status.config.threads, 2);
  assert.equal(status.config.algorithm, 'round-robin');
  assert.equal(status.config.retries, 2);
  assert.deepEqual(status.config.sticky, { cookie: 'pin' });
  assert.equal(status.config.admin.tokenRequired, true);
  for (const key of ['host', 'port', 'health', 'ejection', 'upstream', 'client']) assert.ok(key in status.config, `config.${key}`);
  assert.equal(status.generation, balancer.state.header('generation'));
  assert.deepEqual(status.roundRobin, { ticket: balancer.state.getRoundRobinNext(), wrap: balancer.state.roundRobinWrap });
  assert.ok(status.roundRobin.ticket > 0, 'requests took round-robin tickets');

  assert.deepEqual(
    status.backends.map(({ id, origin, state, healthy, up, ejection, ejectedForMs, weight, effectiveWeight }) => ({ id, origin, state, healthy, up, ejection, ejectedForMs, weight, effectiveWeight })),
    [
      { id: 0, origin: backends[0]!.origin, state: 'active', healthy: true, up: true, ejection: 'in', ejectedForMs: 0, weight: 1, effectiveWeight: 1 },
      { id: 1, origin: backends[1]!.origin, state: 'active', healthy: true, up: true, ejection: 'in', ejectedForMs: 0, weight: 3, effectiveWeight: 3 },
    ],
  );
  for (const [i, backend] of status.backends.entries()) {
    const received = backends[i]!.received.length;
    assert.equal(backend.requests, received, `requests of backend ${i}`);
    assert.equal(backend.responses['2xx'], received);
    assert.equal(backend.failures, 0);
    assert.equal(backend.latency.count, received);
    assert.ok(backend.latency.p50Ms !== null && backend.latency.p50Ms > 0, `p50 of backend ${i}: ${backend.latency.p50Ms}`);
    assert.ok(backend.latency.p99Ms !== null && backend.latency.p99Ms >= backend.latency.p50Ms, `p99 of backend ${i}: ${backend.latency.p99Ms}`);
  }
  assert.equal(status.backends[0]!.requests + status.backends[1]!.requests, REQUESTS);
  assert.equal(status.backends[1]!.requests, 3 * status.backends[0]!.requests, 'weights 1:3, exactly');

  assert.deepEqual(status.listeners.map((l) => [l.index, l.accepting, l.restarts]), [[0, true, 0], [1, true, 0]]);
  assert.equal(status.listeners.reduce((sum, l) => sum + l.requests, 0), REQUESTS);
  for (const listener of status.listeners) {
    assert.equal(typeof listener.eventLoopDelay.p99Ms, 'number');
    assert.ok(listener.eventLoopDelay.maxMs >= 0 && listener.connectionsOpen >= 0);
  }

  // A change shows at the next reading.
  balancer.table.disableBackend(backends[0]!.origin);
  const after = JSON.parse((await adminGet(port, '/status', 'GET', AUTH)).body) as StatusReport;
  assert.deepEqual(after.backends.map((b) => [b.state, b.up]), [['disabled', false], ['active', true]]);
  assert.ok(after.generation > status.generation, 'the generation moved');

  const head = await adminGet(port, '/status', 'HEAD', AUTH);
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.equal(head.headers['content-type'], 'application/json; charset=utf-8');
});

test('/status shows an unused backend\'s latency as null and an ejected backend with the time its ejection has left', async (t) => {
  const live = await startBackend(t, (_req, res) => res.end('ok'));
  const dead = `http://127.0.0.1:${await deadPort()}`;
  const balancer = await startTestBalancer(t, ['--threads', '1', '--admin-port', '0', '--eject-after', '1', '--eject-time', '60s', '--backend', live.origin, '--backend', dead]);
  const port = balancer.admin!.port;
  const before = JSON.parse((await adminGet(port, '/status')).body) as StatusReport;
  assert.deepEqual(before.backends[1]!.latency, { count: 0, p50Ms: null, p99Ms: null, ewmaMs: 0 });

  // Round robin picks the dead backend within two requests; its refusal ejects it and
  // the request is sent on to the live one.
  for (let i = 0; i < 2; i++) {
    const res = await request(`${balancer.url}/e/${i}`, FAIL_FAST);
    await res.body.dump();
    assert.equal(res.statusCode, 200);
  }
  const status = JSON.parse((await adminGet(port, '/status')).body) as StatusReport;
  const ejected = status.backends[1]!;
  assert.equal(ejected.ejection, 'ejected');
  assert.equal(ejected.up, false);
  assert.equal(ejected.failures, 1);
  assert.ok(ejected.ejectedForMs > 0 && ejected.ejectedForMs <= 60_000, `ejected for ${ejected.ejectedForMs} ms`);
  const health = await adminGet(port, '/healthz');
  assert.equal(health.status, 200, 'one backend is still up');
});

test('/healthz: 200 while a listener accepts and a backend is up; 503 with a one-line reason otherwise', async (t) => {
  const backends = await Promise.all([0, 1].map(() => startBackend(t, (_req, res) => res.end('ok'))));
  const balancer = await startTestBalancer(t, ['--threads', '2', '--admin-port', '0', ...backends.flatMap((b) => ['--backend', b.origin])]);
  const port = balancer.admin!.port;

  const healthy = await adminGet(port, '/healthz');
  assert.equal(healthy.status, 200);
  assert.equal(healthy.body, 'ok: 2 of 2 listener threads accepting, 2 of 2 backends up\n');

  for (const backend of backends) balancer.table.disableBackend(backend.origin);
  const noBackend = await adminGet(port, '/healthz');
  assert.equal(noBackend.status, 503);
  assert.equal(noBackend.body, '503 Service Unavailable: no backend is up (2: 2 disabled)\n');
  assert.equal((await adminGet(port, '/healthz', 'HEAD')).status, 503);

  balancer.table.enableBackend(backends[1]!.origin);
  const again = await adminGet(port, '/healthz');
  assert.equal(again.status, 200);
  assert.equal(again.body, 'ok: 2 of 2 listener threads accepting, 1 of 2 backends up\n');
  const head = await adminGet(port, '/healthz', 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');

  // A listener thread that stops accepting clears its flag (as it does while shutting
  // down); with none accepting, no client can be served.
  for (let listener = 0; listener < 2; listener++) balancer.state.listenerStore(listener, 'accepting', 0);
  const notAccepting = await adminGet(port, '/healthz');
  assert.equal(notAccepting.status, 503);
  assert.equal(notAccepting.body, '503 Service Unavailable: no listener thread is accepting connections (0 of 2)\n');
});
