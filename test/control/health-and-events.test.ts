import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BackendTable } from '../../src/control/backend-table.ts';
import { EventLog } from '../../src/control/event-log.ts';
import { HealthChecker } from '../../src/control/health-checker.ts';
import { RoundRobin } from '../../src/routing/algorithms/round-robin.ts';
import { PassiveHealth } from '../../src/routing/passive-health.ts';
import { RoutingView } from '../../src/routing/routing-view.ts';
import { Selector } from '../../src/routing/selector.ts';
import { now, stamp } from '../../src/shared/clock.ts';
import { EJECTION } from '../../src/shared/layout.ts';
import { SharedState } from '../../src/shared/shared-state.ts';
import { startBackend, waitFor } from '../helpers.ts';

test('the event log reports each passive-health change a listener makes, one line each, woken by the epoch', async (t) => {
  const state = SharedState.create({ capacity: 2, listenerCount: 1 });
  const table = new BackendTable(state, { slowStartMs: 0, log: () => {} });
  table.addBackend({ origin: 'http://127.0.0.1:9001', weight: 1 }, { initial: true });
  table.addBackend({ origin: 'http://127.0.0.1:9002', weight: 1 }, { initial: true });
  const logged: string[] = [];
  const events = new EventLog(state, { log: (line) => logged.push(line), activeChecks: false, ejectTimeMs: 30, slowStartMs: 0 });
  events.start();
  t.after(() => events.stop());
  const health = new PassiveHealth(state, { ejectAfter: 3, ejectTimeMs: 30, maxEjectedPercent: 50, slowStartMs: 0 });
  const selector = new Selector(state, new RoutingView(state), new RoundRobin(), { listener: 0, trials: true, slowStartMs: 0 });
  const route = () => ({ key: null, tried: [], attempt: 0, now: 0, pinned: -1 });
  const B = 'backend http://127.0.0.1:9002';

  for (let i = 0; i < 3; i++) health.failed(1, 'ECONNREFUSED', false);
  await waitFor(() => logged.length === 1, 'the ejection line');
  assert.deepEqual(logged, [`${B}: ejected after 3 consecutive failures (ECONNREFUSED) for 0.03s`]);

  await waitFor(() => selector.select(route()) === 1 && selector.trial, 'the trial to be claimed');
  await waitFor(() => logged.length === 2, 'the trial line');
  health.failed(1, 'CONNECT_TIMEOUT', true);
  await waitFor(() => logged.length === 3, 'the re-ejection line');
  await waitFor(() => selector.select(route()) === 1 && selector.trial, 'the second trial');
  health.succeeded(1, true);
  await waitFor(() => logged.length === 5, 'the rejoin line');
  assert.deepEqual(logged.slice(1), [
    `${B}: ejection over; sending one trial request`,
    `${B}: trial request failed (CONNECT_TIMEOUT); ejected again for 0.06s`,
    `${B}: ejection over; sending one trial request`,
    `${B}: rejoined after a successful trial request`,
  ]);
});

test('active checks: one probe per interval per backend; fall failures mark down, rise passes mark up, an expired ejection ends after rise passes', async (t) => {
  let failing = true;
  const probes = new Map<string, number>();
  const count = (name: string): void => void probes.set(name, (probes.get(name) ?? 0) + 1);
  const good = await startBackend(t, (req, res) => {
    count('good');
    res.end(req.url === '/healthz' ? 'ok' : 'no');
  });
  const flaky = await startBackend(t, (_req, res) => {
    count('flaky');
    res.writeHead(failing ? 500 : 204).end();
  });
  const hanging = await startBackend(t, () => count('hanging')); // accepts, never answers
  const state = SharedState.create({ capacity: 4, listenerCount: 1 });
  const table = new BackendTable(state, { slowStartMs: 0, log: () => {} });
  for (const backend of [good, flaky, hanging]) table.addBackend({ origin: backend.origin, weight: 1 }, { initial: true });
  const logged: string[] = [];
  const checker = new HealthChecker(state, { path: '/healthz', intervalMs: 50, timeoutMs: 40, fall: 2, rise: 2 }, { log: (line) => logged.push(line), slowStartMs: 0 });
  const startedAt = now();
  checker.start();
  t.after(() => checker.stop());

  await waitFor(() => state.load(1, 'healthy') === 0 && state.load(2, 'healthy') === 0, 'the 500 and the hanging backend marked down');
  assert.equal(state.load(0, 'healthy'), 1);
  assert.ok(logged.includes(`backend ${flaky.origin}: marked down after 2 failed health checks (status 500)`), logged.join('\n'));
  assert.ok(logged.includes(`backend ${hanging.origin}: marked down after 2 failed health checks (no answer within 40ms)`), logged.join('\n'));

  failing = false;
  await waitFor(() => state.load(1, 'healthy') === 1, 'the recovered backend marked up');
  assert.ok(logged.includes(`backend ${flaky.origin}: marked up after 2 passed health checks`), logged.join('\n'));

  // An ejection (made by a listener) that has run out ends after --health-rise passes.
  state.store(0, 'ejectedUntil', stamp(now() - 1));
  state.store(0, 'ejection', EJECTION.ejected);
  state.headerAdd('ejected', 1);
  await waitFor(() => state.load(0, 'ejection') === EJECTION.in, 'the ejected backend to rejoin by probes');
  assert.equal(state.header('ejected'), 0);

  // One probe per interval, whatever else happens: never more than the intervals elapsed allow.
  const intervals = Math.ceil((now() - startedAt) / 50) + 1;
  for (const name of ['good', 'flaky', 'hanging']) {
    const seen = probes.get(name) ?? 0;
    assert.ok(seen >= 2 && seen <= intervals, `${name}: ${seen} probes in ${intervals} intervals`);
  }
});

test('a probe path that answers 3xx counts as healthy; a refused connection as a failure', async (t) => {
  const redirect = await startBackend(t, (_req, res) => res.writeHead(302, { location: '/elsewhere' }).end());
  const state = SharedState.create({ capacity: 2, listenerCount: 1 });
  const table = new BackendTable(state, { slowStartMs: 0, log: () => {} });
  table.addBackend({ origin: redirect.origin, weight: 1 }, { initial: true });
  table.addBackend({ origin: 'http://127.0.0.1:1', weight: 1 }, { initial: true });
  const logged: string[] = [];
  const checker = new HealthChecker(state, { path: '/h', intervalMs: 30, timeoutMs: 30, fall: 1, rise: 1 }, { log: (line) => logged.push(line), slowStartMs: 0 });
  checker.start();
  t.after(() => checker.stop());
  await waitFor(() => state.load(1, 'healthy') === 0, 'the refusing backend marked down');
  assert.equal(state.load(0, 'healthy'), 1);
  assert.match(logged.join('\n'), /backend http:\/\/127\.0\.0\.1:1: marked down after 1 failed health check \(ECONNREFUSED\)/);
});
