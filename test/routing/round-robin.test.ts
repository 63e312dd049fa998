import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RoutingFixture } from '../fixtures/routing-fixture.ts';
import { runConformance } from './algorithm-conformance.case.ts';

runConformance('round-robin', { weights: 'cycle' });

const NAMES = 'abcdefgh';

interface Case {
  readonly name: string;
  readonly weights: readonly number[];
  readonly down?: readonly number[];
  readonly ejected?: readonly number[];
  /** Where the shared counter starts, given the fold point (default: 0, a new generation). */
  readonly startAt?: (wrap: number) => number;
  /** Backends picked, one letter per pick (a is the first backend). */
  readonly expected: string;
}

const cases: readonly Case[] = [
  { name: "weights 5, 1, 1 interleave as nginx's smooth round robin", weights: [5, 1, 1], expected: 'aabacaa'.repeat(3) },
  { name: 'equal weights alternate strictly', weights: [1, 1, 1], expected: 'abc'.repeat(4) },
  { name: 'weights 2, 1', weights: [2, 1], expected: 'aba'.repeat(3) },
  { name: 'a down backend is skipped; the others keep their order', weights: [5, 1, 1], down: [1], expected: 'aaacaa'.repeat(3) },
  { name: 'an ejected backend is skipped; equal weights still alternate', weights: [1, 1, 1], ejected: [1], expected: 'ac'.repeat(4) },
  {
    name: 'across the fold of the shared counter the cycle goes on unbroken',
    weights: [5, 1, 1],
    startAt: (wrap) => wrap - 3,
    // Tickets wrap-3 .. wrap-1 are schedule positions 4, 5, 6 (the fold is a multiple of 7).
    expected: `caa${'aabacaa'.repeat(3)}`,
  },
  {
    name: 'tickets taken just past the fold (before it is repaired) map to the same positions',
    weights: [1, 1, 1],
    startAt: (wrap) => wrap - 1,
    expected: `c${'abc'.repeat(3)}`,
  },
];

for (const c of cases) {
  test(`round-robin: ${c.name}`, () => {
    const f = new RoutingFixture({ algorithm: 'round-robin', weights: c.weights });
    for (const i of c.down ?? []) f.down(f.slots[i] as number);
    for (const i of c.ejected ?? []) f.eject(f.slots[i] as number);
    if (c.startAt) f.control.setRoundRobin(c.startAt(f.control.roundRobinWrap));
    const letter = new Map(f.slots.map((slot, i) => [slot, NAMES[i]]));
    const picked = f.picks(c.expected.length).map((slot) => letter.get(slot) ?? '?').join('');
    assert.equal(picked, c.expected);
    assert.ok(f.control.getRoundRobinNext() < f.control.roundRobinWrap, 'the counter stays below the fold');
  });
}

test('round-robin: tickets taken past the fold, while another thread is folding the counter, keep the cycle', () => {
  const f = new RoutingFixture({ algorithm: 'round-robin', weights: [1, 1, 1] });
  const [a, b, c] = f.slots as [number, number, number];
  const wrap = f.control.roundRobinWrap;
  f.control.setRoundRobin(wrap - 1);
  assert.deepEqual(f.picks(1), [c]);
  // Another listener takes ticket `wrap` (position 0: a) and has not yet subtracted it.
  assert.equal(f.control.addRoundRobin(1), wrap);
  assert.deepEqual(f.picks(2), [b, c], 'tickets wrap + 1 and wrap + 2 are positions 1 and 2');
  f.control.subRoundRobin(wrap);
  assert.deepEqual(f.picks(6), [a, b, c, a, b, c]);
  assert.equal(f.control.getRoundRobinNext(), 9);
});

test('round-robin: over a full cycle each backend gets exactly its weight, wherever the cycle starts', () => {
  const weights = [7, 3, 2, 1];
  const f = new RoutingFixture({ algorithm: 'round-robin', weights });
  f.control.setRoundRobin(f.control.roundRobinWrap - 5);
  const picked = f.picks(13 * 6);
  for (let from = 0; from + 13 <= picked.length; from++) {
    const window = picked.slice(from, from + 13);
    assert.deepEqual(
      f.slots.map((slot) => window.filter((s) => s === slot).length),
      weights,
      `picks ${from} to ${from + 12}`,
    );
  }
});
