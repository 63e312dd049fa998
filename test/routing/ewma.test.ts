import assert from 'node:assert/strict';
import { test } from 'node:test';
import { latencyEstimate, recordLatency } from '../../src/routing/latency.ts';
import { now } from '../../src/shared/clock.ts';
import { RoutingFixture, assertShares } from '../fixtures/routing-fixture.ts';
import { runConformance } from './algorithm-conformance.case.ts';

runConformance('ewma', { weights: 'sampled' });

interface Case {
  readonly name: string;
  readonly weights: readonly number[];
  /** Latency samples per backend, ms (null: none yet). */
  readonly latencyMs: readonly (number | null)[];
  /** Requests in flight per backend; picks end at once, so they stay. */
  readonly inFlight?: readonly number[];
  /** Expected share of the picks per backend (0: never). */
  readonly shares: readonly number[];
}

const cases: readonly Case[] = [
  // The slowest backend costs most in any pair it is drawn in.
  { name: 'a high-latency backend is never picked', weights: [1, 1, 1], latencyMs: [100, 1, 1], shares: [0, 0.5, 0.5] },
  // Cost = latency x (in flight + 1): 10 x 1 = 10 against 1 x 6 = 6.
  { name: 'a fast backend wins while its load x latency is lower', weights: [1, 1], latencyMs: [10, 1], inFlight: [0, 5], shares: [0, 1] },
  // 10 x 1 = 10 against 1 x 13 = 13.
  { name: 'a fast backend loses once its load x latency is higher', weights: [1, 1], latencyMs: [10, 1], inFlight: [0, 12], shares: [1, 0] },
  // Per unit of weight: 10 x (1 / 1 + 1 / 8) against 10 x (3 / 8 + 1 / 8).
  { name: 'load is counted per unit of weight', weights: [1, 8], latencyMs: [10, 10], inFlight: [1, 3], shares: [0, 1] },
  // 1 x (4 / 1 + 1) = 5 against 2 x (0 / 1 + 1) = 2.
  { name: 'load outweighs a lower latency', weights: [1, 1], latencyMs: [1, 2], inFlight: [4, 0], shares: [0, 1] },
  // No sample: compared on in flight only, and tied at 0: the split is by weight.
  { name: 'a new backend (no sample yet) is neither flooded nor shunned', weights: [1, 1], latencyMs: [50, null], shares: [0.5, 0.5] },
  { name: 'a new backend with more in flight than a sampled one loses', weights: [1, 1], latencyMs: [1_000, null], inFlight: [0, 3], shares: [1, 0] },
  // Idle and equally fast: a tie, which the draw (by weight) decides.
  { name: 'equal latencies, idle: the split is by weight', weights: [3, 1], latencyMs: [5, 5], shares: [0.75, 0.25] },
  { name: 'no samples, idle: the split is by weight', weights: [5, 1], latencyMs: [null, null], shares: [5 / 6, 1 / 6] },
];

for (const c of cases) {
  test(`ewma: ${c.name}`, (t) => {
    const f = new RoutingFixture({ algorithm: 'ewma', weights: c.weights });
    const at = now();
    // Written through the control attachment, as another listener thread records them.
    c.latencyMs.forEach((ms, i) => {
      if (ms !== null) recordLatency(f.control, f.slots[i] as number, ms * 1000, at);
    });
    c.inFlight?.forEach((count, i) => f.start(f.slots[i] as number, count));
    const expected = new Map(f.slots.map((slot, i) => [slot, c.shares[i] as number] as [number, number]).filter(([, share]) => share > 0));
    assertShares(t, f.picks(10_000), expected, c.name);
  });
}

test('ewma: a response recorded by any thread moves the very next pick', () => {
  const f = new RoutingFixture({ algorithm: 'ewma', weights: [1, 1] });
  const [a, b] = f.slots as [number, number];
  recordLatency(f.control, a, 2_000, now());
  recordLatency(f.control, b, 1_000, now());
  assert.deepEqual(new Set(f.picks(50)), new Set([b]));
  // b turns slow: its peak replaces the average at once.
  recordLatency(f.control, b, 200_000, now());
  assert.deepEqual(new Set(f.picks(50)), new Set([a]));
});

test('ewma: held requests spread by latency: a backend 4x as fast takes about 4x the requests', () => {
  const f = new RoutingFixture({ algorithm: 'ewma', weights: [1, 1] });
  const [a, b] = f.slots as [number, number];
  const at = now();
  recordLatency(f.control, a, 4_000, at);
  recordLatency(f.control, b, 1_000, at);
  f.picks(500, { hold: true });
  // Each pick keeps 4 x (in flight a + 1) and 1 x (in flight b + 1) within one step.
  const ratio = (f.inFlight(b) + 1) / (f.inFlight(a) + 1);
  assert.ok(Math.abs(ratio - latencyEstimate(f.state, a, at) / latencyEstimate(f.state, b, at)) < 0.2, `in flight ${f.inFlight(a)} : ${f.inFlight(b)}`);
});
