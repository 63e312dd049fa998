import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPicker } from '../../src/picker/picker.ts';
import { RoundRobinPicker } from '../../src/picker/round-robin.ts';
import { SharedState } from '../../src/shared/layout.ts';

function pickerFor(backendCount: number, listenerCount = 1): { state: SharedState; picker: RoundRobinPicker } {
  const state = SharedState.create({ backendCount, listenerCount });
  return { state, picker: new RoundRobinPicker(state) };
}

/** Exact pick sequences from a fresh counter. */
const FROM_ZERO: ReadonlyArray<{ n: number; expected: readonly number[] }> = [
  { n: 1, expected: [0, 0, 0, 0, 0] },
  { n: 2, expected: [0, 1, 0, 1, 0, 1] },
  { n: 3, expected: [0, 1, 2, 0, 1, 2, 0, 1, 2] },
  { n: 5, expected: [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0] },
  { n: 7, expected: [0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0] },
];

for (const { n, expected } of FROM_ZERO) {
  test(`round robin over ${n} backend(s) from a fresh counter picks exactly ${expected.join(',')}`, () => {
    const { picker } = pickerFor(n);
    assert.deepEqual(
      expected.map(() => picker.pick()),
      expected,
    );
  });
}

/**
 * Exact pick sequences across the fold: the counter starts `k` tickets below RR_WRAP,
 * so the sequence must carry on without a skip or a repeat where the counter folds to 0.
 * (RR_WRAP is a multiple of n, so the ticket RR_WRAP - k maps to backend (n - k % n) % n.)
 */
const ACROSS_FOLD: ReadonlyArray<{ n: number; k: number; expected: readonly number[] }> = [
  { n: 1, k: 2, expected: [0, 0, 0, 0] },
  { n: 2, k: 3, expected: [1, 0, 1, 0, 1, 0] },
  { n: 3, k: 4, expected: [2, 0, 1, 2, 0, 1, 2, 0] },
  { n: 3, k: 1, expected: [2, 0, 1, 2] },
  { n: 5, k: 7, expected: [3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4] },
  { n: 7, k: 3, expected: [4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0] },
  { n: 7, k: 10, expected: [4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3] },
];

for (const { n, k, expected } of ACROSS_FOLD) {
  test(`round robin over ${n} backend(s) starting RR_WRAP - ${k} crosses the fold as ${expected.join(',')}`, () => {
    const { state, picker } = pickerFor(n);
    state.setRoundRobinNext(state.roundRobinWrap - k);
    assert.deepEqual(
      expected.map(() => picker.pick()),
      expected,
    );
    // The counter folded back: it now holds how many picks were made past the fold.
    assert.equal(state.getRoundRobinNext(), expected.length - k);
  });
}

test('tickets across the fold run RR_WRAP - k, ..., RR_WRAP - 1, 0, 1, ...', () => {
  for (const n of [1, 2, 3, 5, 7]) {
    const { state, picker } = pickerFor(n);
    const wrap = state.roundRobinWrap;
    state.setRoundRobinNext(wrap - 3);
    assert.deepEqual(
      Array.from({ length: 6 }, () => picker.takeTicket()),
      [wrap - 3, wrap - 2, wrap - 1, 0, 1, 2],
      `n = ${n}`,
    );
  }
});

test('tickets taken by another thread between the fold and its repair keep the sequence exact', () => {
  // Replays the one interleaving the fold protocol exists for: thread A's add returns
  // exactly RR_WRAP, and before A subtracts RR_WRAP, thread B takes two tickets.
  const { state } = pickerFor(3);
  const threadB = new RoundRobinPicker(new SharedState(state.buffer));
  const wrap = state.roundRobinWrap;
  state.setRoundRobinNext(wrap);
  const rawA = state.addRoundRobin(1);
  assert.equal(rawA, wrap);
  assert.equal(threadB.takeTicket(), 1);
  assert.equal(threadB.pick(), 2);
  state.subRoundRobin(wrap); // A's repair
  assert.equal(threadB.takeTicket(), 3);
  assert.equal(state.getRoundRobinNext(), 4);
});

test('over k x n consecutive picks each backend is picked exactly k times, from 0 and across the fold', () => {
  for (const n of [1, 2, 3, 5, 7]) {
    for (const start of ['zero', 'fold'] as const) {
      const { state, picker } = pickerFor(n);
      const k = 1_000;
      if (start === 'fold') state.setRoundRobinNext(state.roundRobinWrap - Math.floor((k * n) / 2));
      const counts = new Array<number>(n).fill(0);
      for (let i = 0; i < k * n; i++) {
        const backend = picker.pick();
        counts[backend] = (counts[backend] ?? 0) + 1;
      }
      assert.deepEqual(counts, new Array<number>(n).fill(k), `n = ${n}, start ${start}`);
    }
  }
});

test('pickers in different threads share one sequence: alternating two pickers on one buffer stays exact', () => {
  const { state, picker: first } = pickerFor(3, 2);
  const second = new RoundRobinPicker(new SharedState(state.buffer));
  const picks = Array.from({ length: 9 }, (_, i) => (i % 2 === 0 ? first : second).pick());
  assert.deepEqual(picks, [0, 1, 2, 0, 1, 2, 0, 1, 2]);
});

test('createPicker("round-robin") is the exact round-robin picker', () => {
  const state = SharedState.create({ backendCount: 3, listenerCount: 1 });
  const picker = createPicker('round-robin', state);
  assert.ok(picker instanceof RoundRobinPicker);
  assert.deepEqual(
    Array.from({ length: 4 }, () => picker.pick()),
    [0, 1, 2, 0],
  );
});
