import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Candidates, Member } from '../../src/routing/algorithms/algorithm.ts';
import { PowerOfTwo } from '../../src/routing/algorithms/power-of-two.ts';
import { SharedState } from '../../src/shared/shared-state.ts';
import { RoutingFixture, assertShares } from '../fixtures/routing-fixture.ts';
import { runConformance } from './algorithm-conformance.case.ts';

runConformance('power-of-two', { weights: 'sampled' });

interface Case {
  readonly name: string;
  readonly weights: readonly number[];
  /** Requests in flight at each backend; picks end at once, so they stay. */
  readonly inFlight: readonly number[];
  readonly down?: readonly number[];
  /** Expected share of the picks per backend (0: never). */
  readonly shares: readonly number[];
}

const cases: readonly Case[] = [
  // With two eligible backends both are always drawn: the less loaded one always wins.
  { name: 'of two, the one with fewer in flight, always', weights: [1, 1], inFlight: [3, 2], shares: [0, 1] },
  { name: 'in flight is compared per unit of weight', weights: [4, 1], inFlight: [4, 2], shares: [1, 0] },
  { name: 'a down backend is not one of the two', weights: [1, 1, 1], inFlight: [9, 0, 5], down: [1], shares: [0, 0, 1] },
  // The most loaded backend loses every pair it is drawn in; the others split evenly.
  { name: 'a backend with many in flight is never picked', weights: [1, 1, 1], inFlight: [50, 0, 0], shares: [0, 0.5, 0.5] },
  // Drawn pairs of 4 equal backends: a wins 3 of the 6 pairs, b 2, c 1, d none.
  { name: 'loads 0, 1, 2, 3 split as the pairs each one wins', weights: [1, 1, 1, 1], inFlight: [0, 1, 2, 3], shares: [3 / 6, 2 / 6, 1 / 6, 0] },
  // Idle: ties go to the first draw, so the split is by weight.
  { name: 'an idle cluster splits by weight', weights: [3, 1], inFlight: [0, 0], shares: [0.75, 0.25] },
];

for (const c of cases) {
  test(`power-of-two: ${c.name}`, (t) => {
    const f = new RoutingFixture({ algorithm: 'power-of-two', weights: c.weights });
    c.inFlight.forEach((count, i) => f.start(f.slots[i] as number, count));
    for (const i of c.down ?? []) f.down(f.slots[i] as number);
    const expected = new Map(f.slots.map((slot, i) => [slot, c.shares[i] as number]).filter(([, share]) => (share as number) > 0) as [number, number][]);
    assertShares(t, f.picks(10_000), expected, c.name);
  });
}

test('power-of-two: held requests stay balanced per weight (max minus min in flight per weight stays small)', () => {
  const weights = [1, 1, 2, 4];
  const f = new RoutingFixture({ algorithm: 'power-of-two', weights });
  let worst = 0;
  for (let i = 0; i < 4000; i++) {
    f.picks(1, { hold: true });
    const perWeight = f.slots.map((slot, j) => f.inFlight(slot) / (weights[j] as number));
    worst = Math.max(worst, Math.max(...perWeight) - Math.min(...perWeight));
  }
  // With random choice alone the gap would grow like sqrt(picks) (~ 30 here).
  assert.ok(worst <= 8, `largest gap in flight per weight: ${worst}`);
});

test('power-of-two: a pick on a large table draws two backends; it does not scan the table', () => {
  const members: Member[] = Array.from({ length: 1000 }, (_, slot) => ({ slot, origin: `http://10.1.${slot >> 8}.${slot & 255}:80`, weight: 1 + (slot % 3), state: 'active' }));
  const state = SharedState.create({ capacity: 1000, listenerCount: 1 });
  let scans = 0;
  let looks = 0;
  const candidates: Candidates = {
    state,
    isEligible: (slot) => {
      looks++;
      return slot % 10 !== 0;
    },
    eligibleSlots: () => {
      scans++;
      return members.map((member) => member.slot).filter((slot) => slot % 10 !== 0);
    },
    weight: (slot) => members[slot]?.weight ?? 0,
  };
  const p2c = new PowerOfTwo();
  p2c.build(members);
  for (let i = 0; i < 1000; i++) assert.notEqual(p2c.select(candidates, { key: null, tried: [], attempt: 0, now: 0 }) % 10, 0);
  assert.equal(scans, 0, 'no scan while draws find eligible backends');
  assert.ok(looks < 1000 * 3, `${looks} eligibility checks for 1000 picks`);
});
