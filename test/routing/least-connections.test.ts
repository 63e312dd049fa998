import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RoutingFixture } from '../fixtures/routing-fixture.ts';
import { runConformance } from './algorithm-conformance.case.ts';

runConformance('least-connections', { weights: 'in-flight' });

const NAMES = 'abcdefgh';

interface Case {
  readonly name: string;
  readonly weights: readonly number[];
  /** Requests already in flight at each backend (started by any listener thread). */
  readonly inFlight?: readonly number[];
  readonly down?: readonly number[];
  /** Whether each pick's request stays in flight. */
  readonly hold?: boolean;
  /** Backends picked, one letter per pick (a is the first backend; ? where a tie makes either right). */
  readonly expected: string;
  /** In flight at each backend after the picks, when held. */
  readonly expectedInFlight?: readonly number[];
}

const cases: readonly Case[] = [
  { name: 'the idle backend is picked', weights: [1, 1, 1], inFlight: [3, 0, 2], expected: 'bbbb' },
  { name: 'loads are compared per unit of weight', weights: [4, 1], inFlight: [3, 1], expected: 'aaaa' },
  { name: 'per unit of weight, the other way', weights: [4, 1], inFlight: [5, 1], expected: 'bbbb' },
  { name: 'an idle cluster alternates strictly with equal weights', weights: [1, 1, 1], expected: 'abc'.repeat(4) },
  { name: "an idle weighted cluster follows the smooth round-robin schedule", weights: [5, 1, 1], expected: 'aabacaa'.repeat(2) },
  { name: 'ties at a non-zero load per weight are broken by the ticket too', weights: [2, 1], inFlight: [2, 1], expected: 'aba'.repeat(2) },
  { name: 'a down backend is never picked, however idle', weights: [1, 1, 1], inFlight: [5, 0, 5], down: [1], expected: 'acacac' },
  {
    name: 'requests held open fill the least loaded first, then level up',
    weights: [1, 1, 1],
    inFlight: [2, 0, 1],
    hold: true,
    expected: 'bb????',
    expectedInFlight: [3, 3, 3],
  },
  {
    name: 'held requests end up in flight in proportion to weight',
    weights: [3, 1],
    hold: true,
    expected: 'abaa' + 'abaa',
    expectedInFlight: [6, 2],
  },
];

for (const c of cases) {
  test(`least-connections: ${c.name}`, () => {
    const f = new RoutingFixture({ algorithm: 'least-connections', weights: c.weights });
    c.inFlight?.forEach((count, i) => f.start(f.slots[i] as number, count));
    for (const i of c.down ?? []) f.down(f.slots[i] as number);
    const letter = new Map(f.slots.map((slot, i) => [slot, NAMES[i]]));
    const picked = f.picks(c.expected.length, { hold: c.hold ?? false }).map((slot) => letter.get(slot) ?? '-');
    assert.equal(picked.map((name, i) => (c.expected[i] === '?' ? '?' : name)).join(''), c.expected, `picked ${picked.join('')}`);
    if (c.expectedInFlight) assert.deepEqual(f.slots.map((slot) => f.inFlight(slot)), c.expectedInFlight);
  });
}

test('least-connections: an idle cluster picks exactly what round robin picks, across generations', () => {
  const weights = [3, 2, 1, 1];
  const least = new RoutingFixture({ algorithm: 'least-connections', weights });
  const roundRobin = new RoutingFixture({ algorithm: 'round-robin', weights });
  assert.deepEqual(least.picks(70), roundRobin.picks(70));
  least.setWeight(least.slots[3] as number, 4);
  roundRobin.setWeight(roundRobin.slots[3] as number, 4);
  assert.deepEqual(least.picks(100), roundRobin.picks(100));
});

test('least-connections: a busy cluster with one minimum takes no round-robin ticket', () => {
  const f = new RoutingFixture({ algorithm: 'least-connections', weights: [1, 1, 1] });
  f.start(f.slots[0] as number, 2);
  f.start(f.slots[2] as number, 1);
  const before = f.control.getRoundRobinNext();
  f.picks(10);
  assert.equal(f.control.getRoundRobinNext(), before);
});

test('least-connections: the counts of every listener thread count (in flight is shared)', () => {
  const f = new RoutingFixture({ algorithm: 'least-connections', weights: [1, 1] });
  const [a, b] = f.slots as [number, number];
  // Another thread's requests, written through its own attachment to the buffer.
  f.control.add(a, 'inFlight', 4);
  assert.deepEqual(f.picks(4, { hold: true }), [b, b, b, b]);
  f.control.add(a, 'inFlight', -4);
  assert.deepEqual(f.picks(4, { hold: true }), [a, a, a, a]);
});
