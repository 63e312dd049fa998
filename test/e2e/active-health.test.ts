/**
 * End to end, real sockets, two listener threads: active health checks
 * (--health-path). A backend that hangs is marked down by its probes and gets no
 * request until it passes them again; when every backend is marked down, clients get a
 * 503 at once (one-line body, Retry-After) and no request is relayed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestBalancer, waitFor } from '../helpers.ts';
import { answer, createClient, hang, startE2eBackend, tally } from '../fixtures/e2e-traffic.ts';

const backendArgs = (origins: readonly string[]): string[] => origins.flatMap((origin) => ['--backend', origin]);
const HEALTH = ['--health-path', '/health', '--health-interval', '100ms', '--health-timeout', '100ms'];

test('a hanging backend is marked down by active checks and gets no request; once it answers its probes it is marked up and back in rotation', async (t) => {
  const [a, b, h] = await Promise.all(['a', 'b', 'h'].map((name) => startE2eBackend(t, name)));
  const balancer = await startTestBalancer(t, [
    '--threads', '2', ...HEALTH, '--health-fall', '3', '--health-rise', '2', ...backendArgs([a!.origin, b!.origin, h!.origin]),
  ]);
  const slot = balancer.state.slotOf(h!.origin);
  const client = createClient(t, balancer.url);
  assert.deepEqual(tally(await client.sequence(30, (i) => `/before/${i}`)), { a: 10, b: 10, h: 10 });

  // Accepts connections, never answers: only probes can tell (no request fails).
  h!.behave(hang, hang);
  await waitFor(() => balancer.logged.includes(`backend ${h!.origin}: marked down after 3 failed health checks (no answer within 100ms)`), 'h marked down');
  assert.equal(balancer.state.snapshot(slot).healthy, false);
  const relayed = h!.proxied.length;
  const whileDown = await client.sequence(30, (i) => `/down/${i}`);
  assert.deepEqual(tally(whileDown), { a: 15, b: 15 }, 'every request answered by the two others');
  assert.equal(h!.proxied.length, relayed, 'no request was relayed to the hanging backend');

  h!.behave(answer('h'));
  await waitFor(() => balancer.logged.includes(`backend ${h!.origin}: marked up after 2 passed health checks`), 'h marked up');
  assert.equal(balancer.state.snapshot(slot).healthy, true);
  assert.deepEqual(tally(await client.sequence(30, (i) => `/up/${i}`)), { a: 10, b: 10, h: 10 });
  const lines = balancer.logged.filter((line) => line.startsWith(`backend ${h!.origin}: `));
  assert.deepEqual(lines, [
    `backend ${h!.origin}: marked down after 3 failed health checks (no answer within 100ms)`,
    `backend ${h!.origin}: marked up after 2 passed health checks`,
  ]);
});

test('nothing eligible: with every backend marked down, clients get a 503 at once with a one-line body and Retry-After, and no request is relayed', async (t) => {
  const backends = await Promise.all(['a', 'b'].map((name) => startE2eBackend(t, name)));
  // They would answer requests, but fail their probes.
  for (const backend of backends) backend.behave(answer(backend.name), answer(backend.name, 500));
  const balancer = await startTestBalancer(t, [
    '--threads', '2', ...HEALTH, '--health-fall', '1', '--health-rise', '2', ...backendArgs(backends.map((b) => b.origin)),
  ]);
  await waitFor(() => balancer.state.backends().every((b) => !b.healthy), 'every backend marked down');
  for (const backend of backends) {
    assert.ok(balancer.logged.includes(`backend ${backend.origin}: marked down after 1 failed health check (status 500)`), balancer.logged.join('\n'));
  }

  const client = createClient(t, balancer.url);
  const answers = await client.sequence(10, (i) => `/r/${i}`);
  for (const x of answers) {
    assert.equal(x.status, 503);
    assert.equal(x.body, '503 Service Unavailable: no backend is available: of 2, 2 marked down by health checks\n');
    assert.match(String(x.headers['retry-after']), /^[1-9]\d*$/);
    assert.equal(x.headers['x-switchyard-error'], 'NO_BACKEND');
  }
  assert.equal(balancer.state.headerCount('noBackend'), 10);
  assert.equal(backends[0]!.proxied.length + backends[1]!.proxied.length, 0, 'no request was relayed');

  // Probes pass again: both are marked up and serve.
  for (const backend of backends) backend.behave(answer(backend.name));
  await waitFor(() => balancer.state.backends().every((b) => b.healthy), 'every backend marked up');
  assert.deepEqual(tally(await client.sequence(10, (i) => `/after/${i}`)), { a: 5, b: 5 });
});
