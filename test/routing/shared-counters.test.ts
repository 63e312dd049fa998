import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DECAY_MS, latencyEstimate, recordLatency } from '../../src/routing/latency.ts';
import { MIN_RETRIES_IN_FLIGHT, RetryBudget } from '../../src/routing/retry-budget.ts';
import { SharedState } from '../../src/shared/shared-state.ts';

test('the retry budget admits max(3, 20% of requests in flight) retries at once, counted across listeners', () => {
  const state = SharedState.create({ capacity: 2, listenerCount: 2 });
  const [a, b] = [new RetryBudget(state, 0), new RetryBudget(state, 1)];
  for (let i = 0; i < 10; i++) (i % 2 ? a : b).requestStarted();
  // 10 in flight: 20% is 2, so the floor of 3 applies.
  assert.deepEqual(
    [a.tryAcquire(), b.tryAcquire(), a.tryAcquire(), b.tryAcquire()],
    [true, true, true, false],
  );
  assert.equal(state.header('retriesInFlight'), MIN_RETRIES_IN_FLIGHT);
  assert.equal(state.headerCount('retriesRefused'), 1);
  for (let i = 0; i < 20; i++) a.requestStarted();
  // 30 in flight: 6 retries.
  assert.deepEqual(
    [b.tryAcquire(), a.tryAcquire(), b.tryAcquire(), a.tryAcquire()],
    [true, true, true, false],
  );
  assert.equal(state.header('retriesPeak'), 6);
  b.release();
  assert.equal(a.tryAcquire(), true, 'a released place can be taken again');
  assert.equal(state.header('retriesInFlight'), 6);
});

test('budget counts return to exactly 0 and the per-listener rows match the header', () => {
  const state = SharedState.create({ capacity: 1, listenerCount: 2 });
  const budgets = [new RetryBudget(state, 0), new RetryBudget(state, 1)];
  const held: RetryBudget[] = [];
  for (let i = 0; i < 40; i++) budgets[i % 2]!.requestStarted();
  for (let i = 0; i < 10; i++) if (budgets[i % 2]!.tryAcquire()) held.push(budgets[i % 2]!);
  assert.equal(held.length, 8);
  for (const budget of held) budget.release();
  for (let i = 0; i < 40; i++) budgets[i % 2]!.requestEnded();
  assert.equal(state.header('requestsInFlight'), 0);
  assert.equal(state.header('retriesInFlight'), 0);
  assert.equal(state.listenerTake(0, 'retriesInFlight') + state.listenerTake(1, 'retriesInFlight'), 0);
});

test('peak EWMA: a slower sample replaces the estimate at once, faster ones blend in over time', () => {
  const state = SharedState.create({ capacity: 1, listenerCount: 1 });
  const t0 = 1_000_000;
  assert.equal(latencyEstimate(state, 0, t0), 0, 'no sample yet');
  recordLatency(state, 0, 2_000, t0);
  assert.equal(state.load(0, 'ewmaMicros'), 2_000);
  recordLatency(state, 0, 50_000, t0 + 1);
  assert.equal(state.load(0, 'ewmaMicros'), 50_000, 'the peak is taken at once');
  // A fast sample right after barely moves it; one after τ moves it by 1 - 1/e.
  recordLatency(state, 0, 1_000, t0 + 2);
  assert.ok(state.load(0, 'ewmaMicros') > 49_000);
  const before = state.load(0, 'ewmaMicros');
  recordLatency(state, 0, 1_000, t0 + 2 + DECAY_MS);
  const expected = before * Math.exp(-1) + 1_000 * (1 - Math.exp(-1));
  assert.ok(Math.abs(state.load(0, 'ewmaMicros') - expected) <= 1, `${state.load(0, 'ewmaMicros')} vs ${expected}`);
});

test('a latency estimate decays while no sample comes, so a shunned backend is tried again', () => {
  const state = SharedState.create({ capacity: 1, listenerCount: 1 });
  recordLatency(state, 0, 80_000, 5_000);
  assert.equal(latencyEstimate(state, 0, 5_000), 80_000);
  assert.ok(Math.abs(latencyEstimate(state, 0, 5_000 + DECAY_MS) - 80_000 / Math.E) < 1);
  assert.ok(latencyEstimate(state, 0, 5_000 + 5 * DECAY_MS) < 600);
});
