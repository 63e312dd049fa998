import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Piscina } from 'piscina';
import { SharedState } from '../../src/shared/layout.ts';
import type { PickResult, PickTask } from '../fixtures/pick-worker.ts';

const THREADS = 4;
/** Divisible by 2, 3, 5 and 7, so the total over all workers is a whole number of rounds;
 * large enough that the workers' runs overlap even on two cores. */
const PER_WORKER = 252_000;
const TOTAL = THREADS * PER_WORKER;

/** Runs one race: every pool thread takes `PER_WORKER` tickets or picks from `state` at once. */
async function race(pool: Piscina, state: SharedState, mode: PickTask['mode']): Promise<PickResult[]> {
  const barrier = new SharedArrayBuffer(8);
  const task: PickTask = { state: state.buffer, barrier, parties: THREADS, count: PER_WORKER, mode, barrierTimeoutMs: 10_000 };
  return Promise.all(Array.from({ length: THREADS }, () => pool.run(task) as Promise<PickResult>));
}

/**
 * The i-th smallest ticket of the run first, first + 1, ... (length tickets, modulo wrap):
 * a run that crosses the fold sorts as 0..(its tail) followed by first..wrap - 1.
 */
function sortedRun(first: number, length: number, wrap: number): (i: number) => number {
  const tail = Math.max(0, first + length - wrap);
  return (i) => (i < tail ? i : first + i - tail);
}

/** How many times a worker's own tickets jump: 0 means it ran alone, without contention. */
function jumps(tickets: Uint32Array, wrap: number): number {
  let count = 0;
  for (let i = 1; i < tickets.length; i++) if (tickets[i] !== ((tickets[i - 1] ?? 0) + 1) % wrap) count++;
  return count;
}

test('round robin stays exact when several threads pick from one SharedArrayBuffer at once', async (t) => {
  const pool = new Piscina({
    filename: new URL('../fixtures/pick-worker.ts', import.meta.url).href,
    minThreads: THREADS,
    maxThreads: THREADS,
    // One task per thread: the start barrier needs every worker running its own task.
    concurrentTasksPerWorker: 1,
  });
  t.after(() => pool.destroy());

  const cases = [
    { n: 3, start: 'zero' },
    { n: 3, start: 'fold' },
    { n: 2, start: 'fold' },
    { n: 5, start: 'fold' },
    { n: 7, start: 'fold' },
  ] as const;

  for (const { n, start } of cases) {
    // The fold cases start half a race below RR_WRAP, so the fold happens mid-race.
    const from = (state: SharedState): number => (start === 'zero' ? 0 : state.roundRobinWrap - TOTAL / 2);

    await t.test(`${THREADS} threads x ${PER_WORKER} tickets over ${n} backends from ${start}: no duplicate, no gap`, async (t) => {
      const state = SharedState.create({ backendCount: n, listenerCount: THREADS });
      const wrap = state.roundRobinWrap;
      const first = from(state);
      state.setRoundRobinNext(first);
      const results = await race(pool, state, 'tickets');

      const all = new Uint32Array(TOTAL);
      results.forEach((result, worker) => {
        assert.equal(result.tickets.length, PER_WORKER, `worker ${worker} ticket count`);
        all.set(result.tickets, worker * PER_WORKER);
      });
      t.diagnostic(`jumps in each worker's own tickets (interleaving): ${results.map((r) => jumps(r.tickets, wrap)).join(', ')}`);
      all.sort();
      const expected = sortedRun(first, TOTAL, wrap);
      const mismatch = all.findIndex((ticket, i) => ticket !== expected(i));
      assert.equal(
        mismatch,
        -1,
        `sorted tickets differ from the contiguous run at index ${mismatch}: got ${all[mismatch]} (neighbours ${all[mismatch - 1]}, ${all[mismatch + 1]}), expected ${expected(mismatch)}`,
      );
      // The fold was repaired exactly once: the counter is where a single thread would have left it.
      assert.equal(state.getRoundRobinNext(), (first + TOTAL) % wrap);
    });

    await t.test(`${THREADS} threads x ${PER_WORKER} picks over ${n} backends from ${start}: every backend exactly ${TOTAL / n} times`, async () => {
      const state = SharedState.create({ backendCount: n, listenerCount: THREADS });
      state.setRoundRobinNext(from(state));
      const results = await race(pool, state, 'picks');

      const totals = new Array<number>(n).fill(0);
      for (const { counts } of results) {
        assert.equal(counts.reduce((sum, c) => sum + c, 0), PER_WORKER);
        counts.forEach((count, backend) => (totals[backend] = (totals[backend] ?? 0) + count));
      }
      assert.deepEqual(totals, new Array<number>(n).fill(TOTAL / n));
    });
  }
});
