import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BackendSources } from '../../src/control/backend-sources.ts';
import { BackendTable } from '../../src/control/backend-table.ts';
import { SharedState } from '../../src/shared/shared-state.ts';

const A = 'http://127.0.0.1:9001';
const B = 'http://127.0.0.1:9002';
const C = 'http://127.0.0.1:9003';

function setup(capacity = 4): { state: SharedState; table: BackendTable; sources: BackendSources; logged: string[] } {
  const state = SharedState.create({ capacity, listenerCount: 1 });
  const logged: string[] = [];
  const table = new BackendTable(state, { slowStartMs: 0, log: (line) => logged.push(line) });
  return { state, table, sources: new BackendSources(table, { removalTimeoutMs: 5_000, log: (line) => logged.push(line) }), logged };
}

const origins = (table: BackendTable): string[] => table.list().map((backend) => `${backend.origin} ${backend.state} w${backend.weight}`);

test('a sync keeps backends in their slots with their counters, adds new ones and reweighs in place', () => {
  const { state, table, sources } = setup();
  sources.sync('config', [{ origin: A, weight: 1 }, { origin: B, weight: 1 }], { initial: true });
  const slotOfB = state.slotOf(B);
  state.addCount(slotOfB, 'started', 7);
  const result = sources.sync('config', [{ origin: B, weight: 3 }, { origin: C, weight: 1 }]);
  assert.deepEqual(result.added, [C]);
  assert.deepEqual(result.kept, [B]);
  assert.deepEqual(result.reweighted, [B]);
  assert.deepEqual(result.removing, [A]);
  assert.equal(state.slotOf(B), slotOfB);
  assert.equal(state.snapshot(slotOfB).started, 7, 'the kept backend keeps its counters');
  assert.deepEqual(origins(table), [`${A} draining w1`, `${B} active w3`, `${C} active w1`]);
});

test('a backend no source wants leaves only once its requests have finished', async () => {
  const { state, table, sources } = setup();
  sources.sync('config', [{ origin: A, weight: 1 }], { initial: true });
  const slot = state.slotOf(A);
  state.add(slot, 'inFlight', 1);
  sources.sync('config', []);
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(origins(table), [`${A} draining w1`], 'still draining while a request runs');
  state.add(slot, 'inFlight', -1);
  await sources.settled();
  assert.deepEqual(origins(table), []);
});

test('a backend wanted again while it drains comes back active, in the same slot', async () => {
  const { state, table, sources } = setup();
  sources.sync('dns:a', [{ origin: A, weight: 1 }]);
  const slot = state.slotOf(A);
  state.add(slot, 'inFlight', 1);
  sources.sync('dns:a', []);
  sources.sync('dns:a', [{ origin: A, weight: 1 }]);
  state.add(slot, 'inFlight', -1);
  await sources.settled();
  assert.deepEqual(origins(table), [`${A} active w1`]);
  assert.equal(state.slotOf(A), slot);
});

test('a backend two sources want stays until neither wants it; backends added by hand are left alone', async () => {
  const { table, sources } = setup();
  table.addBackend({ origin: C, weight: 1 });
  sources.sync('config', [{ origin: A, weight: 1 }]);
  sources.sync('dns:b', [{ origin: A, weight: 1 }, { origin: B, weight: 1 }]);
  sources.forget('dns:b');
  await sources.settled();
  assert.deepEqual(origins(table), [`${C} active w1`, `${A} active w1`]);
  sources.sync('config', []);
  await sources.settled();
  assert.deepEqual(origins(table), [`${C} active w1`]);
});

test('a backend that does not fit is reported, and the others are still added', () => {
  const { table, sources, logged } = setup(1);
  const result = sources.sync('dns:a', [{ origin: A, weight: 1 }, { origin: B, weight: 1 }]);
  assert.deepEqual(result.added, [A]);
  assert.equal(result.refused[0]?.origin, B);
  assert.match(logged.at(-1) ?? '', /dns:a: backend http:\/\/127\.0\.0\.1:9002 not added: no free slot/);
  assert.deepEqual(origins(table), [`${A} active w1`]);
});
