import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AliasTable } from '../../src/routing/algorithms/alias-table.ts';
import { RoutingFixture, assertShares, sharesOf } from '../fixtures/routing-fixture.ts';
import { runConformance } from './algorithm-conformance.case.ts';

runConformance('random', { weights: 'sampled' });

interface Case {
  readonly name: string;
  readonly weights: readonly number[];
  readonly down?: readonly number[];
  readonly ejected?: readonly number[];
  /** Expected share of the picks per backend (0: never). */
  readonly shares: readonly number[];
}

const cases: readonly Case[] = [
  { name: 'weights 3, 1', weights: [3, 1], shares: [0.75, 0.25] },
  { name: 'equal weights', weights: [1, 1, 1, 1], shares: [0.25, 0.25, 0.25, 0.25] },
  { name: 'a down backend leaves the others their relative weights', weights: [1, 2, 3, 4], down: [2], shares: [1 / 7, 2 / 7, 0, 4 / 7] },
  // 999 of 1000 draws hit an ineligible backend: the scan after the redraws keeps the split exact.
  { name: 'with most of the weight out, the rest still split by weight', weights: [1000, 1, 3], ejected: [0], shares: [0, 0.25, 0.75] },
  { name: 'a weight of 1 beside 1000 still gets its share', weights: [1000, 1], shares: [1000 / 1001, 1 / 1001] },
  { name: 'the one eligible backend takes everything', weights: [5, 1, 1], down: [0], ejected: [2], shares: [0, 1, 0] },
];

for (const c of cases) {
  test(`random: ${c.name}`, (t) => {
    const f = new RoutingFixture({ algorithm: 'random', weights: c.weights });
    for (const i of c.down ?? []) f.down(f.slots[i] as number);
    for (const i of c.ejected ?? []) f.eject(f.slots[i] as number);
    const expected = new Map([...sharesOf(f.slots, c.shares)].filter(([, share]) => share > 0));
    assertShares(t, f.picks(20_000), expected, c.name);
  });
}

test('random: the alias table draws each slot with probability exactly weight / total', () => {
  // Vose's construction in whole units: the units each slot owns across the columns add
  // up to weight x columns, out of total x columns.
  for (const weights of [[3, 1], [5, 1, 1, 3], [1, 2, 3, 4, 5, 6, 7], [1000, 1, 1], [7]]) {
    const table = new AliasTable(weights.map((weight, slot) => ({ slot, weight })));
    const total = weights.reduce((sum, weight) => sum + weight, 0);
    const owned = new Array<number>(weights.length).fill(0);
    // Every point of [0, n x total) in turn, through the same arithmetic as a draw.
    const n = weights.length;
    const random = Math.random;
    try {
      for (let point = 0; point < n * total; point++) {
        Math.random = () => (point + 0.5) / (n * total);
        const slot = table.draw();
        owned[slot] = (owned[slot] ?? 0) + 1;
      }
    } finally {
      Math.random = random;
    }
    assert.deepEqual(owned, weights.map((weight) => weight * n), `weights ${weights}`);
  }
});
