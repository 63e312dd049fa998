import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { BackendTable } from '../../src/control/backend-table.ts';
import { RoundRobin } from '../../src/routing/algorithms/round-robin.ts';
import { MAX_EJECTION_MS, PassiveHealth, type PassiveHealthOptions } from '../../src/routing/passive-health.ts';
import { RoutingView } from '../../src/routing/routing-view.ts';
import { Selector, type RouteRequest } from '../../src/routing/selector.ts';
import { between, now, stamp } from '../../src/shared/clock.ts';
import { EJECTION, type FailureReason } from '../../src/shared/layout.ts';
import { SharedState } from '../../src/shared/shared-state.ts';

const OPTIONS: PassiveHealthOptions = { ejectAfter: 3, ejectTimeMs: 10_000, maxEjectedPercent: 50, slowStartMs: 0 };

function setup(backends: number, options: Partial<PassiveHealthOptions> = {}) {
  const state = SharedState.create({ capacity: backends + 1, listenerCount: 2 });
  const table = new BackendTable(state, { slowStartMs: 0, log: () => {} });
  for (let i = 0; i < backends; i++) table.addBackend({ origin: `http://127.0.0.1:${9001 + i}`, weight: 1 }, { initial: true });
  const health = new PassiveHealth(state, { ...OPTIONS, ...options });
  const view = new RoutingView(state);
  const selector = new Selector(state, view, new RoundRobin(), { listener: 0, trials: true, slowStartMs: options.slowStartMs ?? 0 });
  const route = (): RouteRequest => ({ key: null, tried: [], attempt: 0, now: 0, pinned: -1 });
  return { state, table, health, selector, route };
}

const failTimes = (health: PassiveHealth, slot: number, times: number, reason: FailureReason = 'ECONNREFUSED'): void => {
  for (let i = 0; i < times; i++) health.failed(slot, reason, false);
};

test('--eject-after consecutive failures eject the backend and publish it; fewer do not', () => {
  const { state, health } = setup(3);
  const epoch = state.header('stateEpoch');
  failTimes(health, 1, 2);
  assert.equal(state.load(1, 'ejection'), EJECTION.in);
  assert.equal(state.header('stateEpoch'), epoch, 'nothing to publish yet');
  health.failed(1, 'ECONNREFUSED', false);
  assert.equal(state.load(1, 'ejection'), EJECTION.ejected);
  assert.equal(state.header('ejected'), 1);
  assert.equal(state.count(1, 'ejections'), 1);
  assert.equal(state.count(1, 'failures'), 3);
  assert.ok(state.header('stateEpoch') > epoch, 'the ejection is published');
  const left = between(stamp(now()), state.load(1, 'ejectedUntil'));
  assert.ok(left > 9_000 && left <= 10_000, `ejected for --eject-time: ${left} ms left`);
  // A fourth failure (a request that was already running) does not eject it twice.
  health.failed(1, 'ECONNREFUSED', false);
  assert.equal(state.count(1, 'ejections'), 1);
  assert.equal(state.header('ejected'), 1);
});

test('a success between failures starts the count over', () => {
  const { state, health } = setup(3);
  failTimes(health, 0, 2);
  health.succeeded(0, false);
  failTimes(health, 0, 2);
  assert.equal(state.load(0, 'ejection'), EJECTION.in);
  health.failed(0, 'ECONNRESET', false);
  assert.equal(state.load(0, 'ejection'), EJECTION.ejected);
});

test('--eject-after 0 never ejects', () => {
  const { state, health } = setup(3, { ejectAfter: 0 });
  failTimes(health, 0, 50);
  assert.equal(state.load(0, 'ejection'), EJECTION.in);
  assert.equal(state.count(0, 'failures'), 50);
});

const BOUNDS = [
  { backends: 4, maxEjectedPercent: 50, down: 0, ejected: 2, why: 'half of 4' },
  { backends: 3, maxEjectedPercent: 50, down: 0, ejected: 1, why: 'floor(1.5)' },
  { backends: 2, maxEjectedPercent: 100, down: 0, ejected: 1, why: 'never the last eligible one' },
  { backends: 1, maxEjectedPercent: 100, down: 0, ejected: 0, why: 'a single backend is never ejected' },
  { backends: 3, maxEjectedPercent: 100, down: 1, ejected: 1, why: 'one is down: only one of the two healthy ones may go' },
  { backends: 4, maxEjectedPercent: 0, down: 0, ejected: 0, why: '--max-ejected 0% turns ejection off' },
] as const;

for (const { backends, maxEjectedPercent, down, ejected, why } of BOUNDS) {
  test(`every backend failing: ${backends} backends, --max-ejected ${maxEjectedPercent}%, ${down} down -> ${ejected} ejected (${why})`, () => {
    const { state, health, selector, route } = setup(backends, { maxEjectedPercent });
    for (let slot = backends - down; slot < backends; slot++) state.store(slot, 'healthy', 0);
    for (let slot = 0; slot < backends - down; slot++) failTimes(health, slot, 5);
    const out = state.backends().filter((b) => b.ejection !== EJECTION.in).length;
    assert.equal(out, ejected);
    assert.equal(state.header('ejected'), ejected);
    if (backends - down - ejected > 0) assert.notEqual(selector.select(route()), -1, 'something is left to route to');
    if (ejected < backends - down) assert.ok(state.headerCount('ejectionsRefused') > 0, 'refused ejections are counted');
  });
}

test('when the ejection runs out, exactly one request is the trial; its success makes the backend rejoin', async () => {
  const { state, health, selector, route } = setup(2, { ejectTimeMs: 20 });
  failTimes(health, 1, 3);
  assert.equal(state.load(1, 'ejection'), EJECTION.ejected);
  for (let i = 0; i < 4; i++) assert.equal(selector.select(route()), 0, 'an ejected backend is not picked');
  await sleep(40);
  assert.equal(selector.select(route()), 1, 'the first request after the ejection is the trial');
  assert.equal(selector.trial, true);
  assert.equal(state.load(1, 'ejection'), EJECTION.trial);
  assert.equal(state.load(1, 'trialOwner'), 1, 'listener 0 (+1) owns it');
  for (let i = 0; i < 4; i++) {
    assert.equal(selector.select(route()), 0, 'one trial in flight, not more');
    assert.equal(selector.trial, false);
  }
  health.succeeded(1, true);
  assert.equal(state.load(1, 'ejection'), EJECTION.in);
  assert.equal(state.header('ejected'), 0);
  assert.equal(state.load(1, 'trialOwner'), 0);
  assert.deepEqual(
    [0, 1, 2, 3].map(() => selector.select(route())).sort(),
    [0, 0, 1, 1],
    'back in rotation',
  );
});

test('a failed trial ejects the backend again for twice as long, doubling up to 5 minutes', async () => {
  const { state, health, selector, route } = setup(2, { ejectTimeMs: 20 });
  failTimes(health, 1, 3);
  const lengths = [state.load(1, 'ejectedForMs')];
  for (let round = 0; round < 3; round++) {
    await sleep(lengths.at(-1)! + 20);
    assert.equal(selector.select(route()), 1);
    assert.equal(selector.trial, true);
    health.failed(1, 'ECONNREFUSED', true);
    assert.equal(state.load(1, 'ejection'), EJECTION.ejected);
    lengths.push(state.load(1, 'ejectedForMs'));
  }
  assert.deepEqual(lengths, [20, 40, 80, 160]);
  assert.equal(state.count(1, 'ejections'), 4);
  assert.equal(state.header('ejected'), 1, 'one backend out, however often it was ejected');

  const { state: capped, health: cappedHealth } = setup(2, { ejectTimeMs: 60_000 });
  failTimes(cappedHealth, 1, 3);
  capped.store(1, 'ejection', EJECTION.trial);
  for (let i = 0; i < 5; i++) {
    cappedHealth.failed(1, 'ECONNREFUSED', true);
    capped.store(1, 'ejection', EJECTION.trial);
  }
  assert.equal(capped.load(1, 'ejectedForMs'), MAX_EJECTION_MS);
});

test('the doubling starts over once the backend has served for as long as its last ejection', () => {
  const { state, health } = setup(2, { ejectTimeMs: 1_000 });
  // Ejected, rejoined a moment ago after a 4 s ejection (level 2): flapping, so longer.
  state.store(1, 'ejectionLevel', 2);
  state.store(1, 'ejectedForMs', 4_000);
  state.store(1, 'rejoinedAt', stamp(now() - 100));
  failTimes(health, 1, 3);
  assert.equal(state.load(1, 'ejectedForMs'), 8_000);
  // The same after serving 5 s since its rejoin: back to --eject-time.
  const fresh = setup(2, { ejectTimeMs: 1_000 });
  fresh.state.store(1, 'ejectionLevel', 2);
  fresh.state.store(1, 'ejectedForMs', 4_000);
  fresh.state.store(1, 'rejoinedAt', stamp(now() - 5_000));
  failTimes(fresh.health, 1, 3);
  assert.equal(fresh.state.load(1, 'ejectedForMs'), 1_000);
});

test('a trial the client abandoned goes back, and the next request is the trial', async () => {
  const { state, health, selector, route } = setup(2, { ejectTimeMs: 10 });
  failTimes(health, 1, 3);
  await sleep(30);
  assert.equal(selector.select(route()), 1);
  health.abandoned(1, true);
  assert.equal(state.load(1, 'ejection'), EJECTION.ejected);
  assert.equal(selector.select(route()), 1);
  assert.equal(selector.trial, true);
});

test('a request does not take a trial on a backend it already tried', async () => {
  const { health, selector } = setup(2, { ejectTimeMs: 10 });
  failTimes(health, 1, 3);
  await sleep(30);
  const retry: RouteRequest = { key: null, tried: [1], attempt: 1, now: 0, pinned: -1 };
  assert.equal(selector.select(retry), 0);
  assert.equal(selector.trial, false);
});

test('a rejoin after a trial starts slow start when --slow-start is set', async () => {
  const { state, health, selector, route } = setup(2, { ejectTimeMs: 10, slowStartMs: 60_000 });
  failTimes(health, 1, 3);
  await sleep(30);
  assert.equal(selector.select(route()), 1);
  health.succeeded(1, true);
  assert.equal(state.load(1, 'ramping'), 1);
  // At the start of its ramp it gets about 10% of its share: of 400 picks, far fewer than half.
  const picks = Array.from({ length: 400 }, () => selector.select(route()));
  const share = picks.filter((slot) => slot === 1).length / picks.length;
  assert.ok(share > 0 && share < 0.25, `ramping backend's share ${share}`);
});
