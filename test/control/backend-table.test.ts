import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { BackendTable, BackendTableError } from '../../src/control/backend-table.ts';
import { EJECTION } from '../../src/shared/layout.ts';
import { SharedState } from '../../src/shared/shared-state.ts';

function table(capacity = 4, slowStartMs = 0): { state: SharedState; table: BackendTable; logged: string[] } {
  const state = SharedState.create({ capacity, listenerCount: 2 });
  const logged: string[] = [];
  return { state, table: new BackendTable(state, { slowStartMs, log: (line) => logged.push(line) }), logged };
}

const A = 'http://127.0.0.1:9001';
const B = 'http://127.0.0.1:9002';
const C = 'http://127.0.0.1:9003';

test('addBackend fills the lowest free slot, active and healthy, and publishes a new generation', () => {
  const { state, table: backends } = table();
  const epoch = state.header('stateEpoch');
  assert.equal(backends.addBackend({ origin: A, weight: 1 }, { initial: true }), 0);
  assert.equal(backends.addBackend({ origin: B, weight: 5 }), 1);
  assert.equal(state.header('generation'), 2);
  assert.ok(state.header('stateEpoch') >= epoch + 2);
  assert.deepEqual(
    backends.list().map(({ slot, origin, state: s, weight, healthy, ejection }) => ({ slot, origin, s, weight, healthy, ejection })),
    [
      { slot: 0, origin: A, s: 'active', weight: 1, healthy: true, ejection: EJECTION.in },
      { slot: 1, origin: B, s: 'active', weight: 5, healthy: true, ejection: EJECTION.in },
    ],
  );
  // The incarnation is even once a slot is filled (odd only while it is written).
  assert.equal(state.load(0, 'incarnation') % 2, 0);
  assert.ok(state.load(0, 'incarnation') > 0);
});

test('the round-robin counter folds at a multiple of the total active weight of each generation', () => {
  const { state, table: backends } = table();
  backends.addBackend({ origin: A, weight: 5 });
  backends.addBackend({ origin: B, weight: 1 });
  backends.addBackend({ origin: C, weight: 1 });
  assert.equal(state.roundRobinWrap % 7, 0);
  state.addRoundRobin(3);
  backends.setWeight(C, 3);
  assert.equal(state.roundRobinWrap % 9, 0);
  assert.equal(state.getRoundRobinNext(), 0, 'a new generation starts its schedule from the top');
  backends.drainBackend(A);
  assert.equal(state.roundRobinWrap % 4, 0, 'a draining backend is out of the active weight');
});

test('drain, disable and enable change the state, each a new generation, and are logged', () => {
  const { state, table: backends, logged } = table();
  backends.addBackend({ origin: A, weight: 1 }, { initial: true });
  const generation = state.header('generation');
  backends.drainBackend(A);
  assert.equal(state.slotState(0), 'draining');
  backends.disableBackend(A);
  assert.equal(state.slotState(0), 'disabled');
  backends.enableBackend(A);
  assert.equal(state.slotState(0), 'active');
  assert.equal(state.header('generation'), generation + 3);
  // Repeating a state is no change: no new generation.
  backends.enableBackend(A);
  backends.drainBackend(A);
  backends.drainBackend(A);
  assert.equal(state.header('generation'), generation + 4);
  assert.deepEqual(logged, [
    `backend ${A}: draining: no new requests, those in flight finish`,
    `backend ${A}: disabled`,
    `backend ${A}: enabled`,
    `backend ${A}: draining: no new requests, those in flight finish`,
  ]);
});

test('a backend added or enabled after start ramps up when --slow-start is set; initial ones do not', () => {
  const { state, table: backends, logged } = table(4, 30_000);
  backends.addBackend({ origin: A, weight: 1 }, { initial: true });
  backends.addBackend({ origin: B, weight: 2 });
  assert.equal(state.load(0, 'ramping'), 0);
  assert.equal(state.load(1, 'ramping'), 1);
  assert.deepEqual(logged, [`backend ${B}: added with weight 2; slow start over 30s`]);
  backends.disableBackend(A);
  backends.enableBackend(A);
  assert.equal(state.load(0, 'ramping'), 1);
});

test('setWeight changes the weight in place; counters and health stay with the slot', () => {
  const { state, table: backends, logged } = table();
  const slot = backends.addBackend({ origin: A, weight: 1 }, { initial: true });
  state.bump(slot, 'started');
  state.bump(slot, 'started');
  state.store(slot, 'ewmaMicros', 1234);
  backends.setWeight(A, 40);
  assert.equal(state.load(slot, 'weight'), 40);
  assert.equal(state.count(slot, 'started'), 2);
  assert.equal(state.load(slot, 'ewmaMicros'), 1234);
  assert.deepEqual(logged, [`backend ${A}: weight 1 -> 40`]);
});

test('removeBackend drains first, waits for the requests in flight, then frees the slot', async () => {
  const { state, table: backends, logged } = table();
  backends.addBackend({ origin: A, weight: 1 }, { initial: true });
  const slot = backends.addBackend({ origin: B, weight: 1 }, { initial: true });
  state.add(slot, 'inFlight', 2);
  let removed = false;
  const removal = backends.removeBackend(B, { timeoutMs: 10_000 }).then((left) => {
    removed = true;
    return left;
  });
  await sleep(80);
  assert.equal(state.slotState(slot), 'draining', 'no new requests while the old ones finish');
  assert.equal(removed, false, 'removal waits for the requests in flight');
  state.add(slot, 'inFlight', -1);
  await sleep(80);
  assert.equal(removed, false);
  state.add(slot, 'inFlight', -1);
  assert.equal(await removal, 0);
  assert.equal(state.slotState(slot), 'empty');
  assert.deepEqual(
    backends.list().map((b) => b.origin),
    [A],
  );
  assert.deepEqual(logged, [`backend ${B}: draining before removal`, `backend ${B}: removed`]);
});

test('removeBackend gives up waiting at its deadline and reports the requests still running', async () => {
  const { state, table: backends, logged } = table();
  const slot = backends.addBackend({ origin: A, weight: 1 }, { initial: true });
  state.add(slot, 'inFlight', 1);
  assert.equal(await backends.removeBackend(A, { timeoutMs: 60 }), 1);
  assert.equal(state.slotState(slot), 'empty');
  assert.equal(logged.at(-1), `backend ${A}: removed with 1 request still running`);
});

test('removing an ejected backend gives its place in the ejected count back', async () => {
  const { state, table: backends } = table();
  const slot = backends.addBackend({ origin: A, weight: 1 }, { initial: true });
  state.store(slot, 'ejection', EJECTION.ejected);
  state.headerAdd('ejected', 1);
  await backends.removeBackend(A, { timeoutMs: 100 });
  assert.equal(state.header('ejected'), 0);
});

test('a freed slot is reused with a new incarnation and fresh counters', async () => {
  const { state, table: backends } = table(2);
  backends.addBackend({ origin: A, weight: 1 }, { initial: true });
  const slot = backends.addBackend({ origin: B, weight: 1 }, { initial: true });
  state.bump(slot, 'started');
  state.store(slot, 'consecutiveFailures', 2);
  const incarnation = state.load(slot, 'incarnation');
  await backends.removeBackend(B, { timeoutMs: 100 });
  assert.equal(backends.addBackend({ origin: C, weight: 3 }), slot);
  assert.ok(state.load(slot, 'incarnation') > incarnation);
  assert.equal(state.origin(slot), C);
  assert.equal(state.count(slot, 'started'), 0);
  assert.equal(state.load(slot, 'consecutiveFailures'), 0);
});

test('refusals are typed: duplicate, full, unknown, bad weight', async () => {
  const { table: backends } = table(2);
  backends.addBackend({ origin: A, weight: 1 });
  backends.addBackend({ origin: B, weight: 1 });
  const refusal = (fn: () => unknown, code: BackendTableError['code'], message: RegExp): void => {
    assert.throws(fn, (error: unknown) => error instanceof BackendTableError && error.code === code && message.test(error.message));
  };
  refusal(() => backends.addBackend({ origin: A, weight: 1 }), 'DUPLICATE', /already in the table/);
  refusal(() => backends.addBackend({ origin: C, weight: 1 }), 'FULL', /all 2 are in use \(--max-backends\)/);
  refusal(() => backends.drainBackend(C), 'UNKNOWN', /is not in the table/);
  refusal(() => backends.setWeight(C, 2), 'UNKNOWN', /is not in the table/);
  refusal(() => backends.setWeight(A, 0), 'BAD_WEIGHT', /from 1 to 1000/);
  refusal(() => backends.setWeight(A, 1001), 'BAD_WEIGHT', /from 1 to 1000/);
  refusal(() => backends.setWeight(A, 1.5), 'BAD_WEIGHT', /from 1 to 1000/);
  await assert.rejects(backends.removeBackend(C, { timeoutMs: 10 }), BackendTableError);
});
