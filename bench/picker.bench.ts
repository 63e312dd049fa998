/**
 * @module Section 2, picker cost (tinybench): nanoseconds per `select()` for every
 * algorithm switchyard has, through the real Selector (each algorithm its own
 * RoutingView and Selector, wired as a listener thread wires them) over the same few
 * backends. First uncontended; then, per algorithm, while every other core picks with
 * the same algorithm on the same shared state (piscina threads, each pick holding the
 * backend's in-flight count as a request does) and tinybench measures on this thread.
 * A bare `Atomics.add` on the round-robin counter is the floor. Runs alone too:
 * `node bench/picker.bench.ts`.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { Bench } from 'tinybench';
import { ALGORITHMS, type AlgorithmName } from '../src/routing/algorithms/names.ts';
import { recordLatency } from '../src/routing/latency.ts';
import { now } from '../src/shared/clock.ts';
import type { SharedState } from '../src/shared/shared-state.ts';
import type { SpinTask } from '../test/fixtures/race/pick-worker.ts';
import { PickerThread, stateWithBackends } from '../test/fixtures/race/picker-thread.ts';
import { StartGate } from '../test/fixtures/race/start-gate.ts';
import { ns, int, table } from './report.ts';

const PICK_WORKER = new URL('../test/fixtures/race/pick-worker.ts', import.meta.url).href;
/** Picks per tinybench sample: one pick (tens of ns) is far below the timer's resolution. */
const BATCH = 1_000;
/** Three backends, weights 1, 2, 3: not all equal, so weighting is exercised. */
const WEIGHTS = [1, 2, 3];
const FLOOR = 'Atomics.add only (floor)';

export interface PickerBenchOptions {
  /** tinybench time budget per task, in ms. */
  readonly timeMs: number;
  /** Threads picking during the contended rounds (every other core: cores - 1). */
  readonly spinners: number;
}

export interface PickerCost {
  readonly task: string;
  readonly contended: boolean;
  readonly nsPerPick: number;
  /** Relative margin of error of the mean, percent. */
  readonly rme: number;
  readonly samples: number;
  /** Picks per second the other threads made meanwhile (contended rounds only). */
  readonly spinnerPicksPerSecond: number | null;
}

export interface PickerBenchResult {
  readonly batch: number;
  readonly spinners: number;
  readonly weights: readonly number[];
  readonly costs: readonly PickerCost[];
}

type Task = AlgorithmName | typeof FLOOR;
const TASKS: readonly Task[] = [...ALGORITHMS, FLOOR];

export async function runPickerBench(options: PickerBenchOptions, step: (text: string) => void = () => {}): Promise<PickerBenchResult> {
  const { state } = stateWithBackends(WEIGHTS, 1 + options.spinners);
  // Latency samples for every backend, so that ewma compares real numbers, not "none yet".
  WEIGHTS.forEach((_, slot) => recordLatency(state, slot, 1_000 + 500 * slot, now()));
  const costs: PickerCost[] = [];
  step('uncontended');
  costs.push(...(await measure(state, TASKS, options.timeMs, false, step)));

  const pool = new Piscina({ filename: PICK_WORKER, minThreads: options.spinners, maxThreads: options.spinners, concurrentTasksPerWorker: 1 });
  try {
    for (const algorithm of ALGORITHMS) {
      step(`contended: ${algorithm}, ${options.spinners} other thread${options.spinners === 1 ? '' : 's'} picking on the same state`);
      const stop = new SharedArrayBuffer(4);
      const gate = StartGate.create();
      const started = performance.now();
      const spinning = Array.from({ length: options.spinners }, (_, i) => {
        const task: SpinTask = { gate: gate.buffer, state: state.buffer, algorithm, listener: 1 + i, stop };
        return pool.run(task, { name: 'spin' }) as Promise<number>;
      });
      try {
        await gate.openWhenArrived(options.spinners);
        const tasks: Task[] = algorithm === 'round-robin' ? [algorithm, FLOOR] : [algorithm];
        const contended = await measure(state, tasks, options.timeMs, true, step);
        Atomics.store(new Int32Array(stop), 0, 1);
        const spun = (await Promise.all(spinning)).reduce((sum, n) => sum + n, 0);
        const rate = spun / ((performance.now() - started) / 1000);
        costs.push(...contended.map((cost) => ({ ...cost, spinnerPicksPerSecond: rate })));
      } finally {
        Atomics.store(new Int32Array(stop), 0, 1);
      }
    }
  } finally {
    await pool.destroy();
  }
  return { batch: BATCH, spinners: options.spinners, weights: WEIGHTS, costs };
}

async function measure(state: SharedState, tasks: readonly Task[], timeMs: number, contended: boolean, step: (text: string) => void): Promise<PickerCost[]> {
  const bench = new Bench({ time: timeMs, warmupTime: Math.min(250, timeMs / 2) });
  let sink = 0;
  for (const task of tasks) {
    if (task === FLOOR) {
      bench.add(FLOOR, () => {
        for (let i = 0; i < BATCH; i++) sink += state.addRoundRobin(1) & 1;
      });
      continue;
    }
    const picker = new PickerThread(state, { algorithm: task, listener: 0 });
    bench.add(task, () => {
      for (let i = 0; i < BATCH; i++) sink += picker.pick();
    });
  }
  bench.addEventListener('cycle', (event) => {
    const task = event.task;
    if (task) step(`${contended ? 'contended' : 'uncontended'}: ${task.name} done`);
  });
  await bench.run();
  if (sink < 0) throw new Error('unreachable: keeps the picks from being optimised away');
  return bench.tasks.map((task) => {
    const result = task.result;
    if (result.state !== 'completed') throw new Error(`tinybench task ${task.name} ended ${result.state}`);
    return {
      task: task.name,
      contended,
      nsPerPick: (result.latency.mean * 1e6) / BATCH,
      rme: result.latency.rme,
      samples: result.latency.samplesCount,
      spinnerPicksPerSecond: null,
    };
  });
}

export function pickerTable(result: PickerBenchResult): string {
  const uncontended = new Map(result.costs.filter((c) => !c.contended).map((c) => [c.task, c.nsPerPick]));
  const rows = TASKS.flatMap((task) =>
    result.costs
      .filter((cost) => cost.task === task)
      .map((cost) => [
        cost.task,
        cost.contended ? `vs ${result.spinners} picking thread${result.spinners === 1 ? '' : 's'}` : 'uncontended',
        ns(cost.nsPerPick),
        cost.contended ? `${(cost.nsPerPick / (uncontended.get(cost.task) ?? Number.NaN)).toFixed(1)}x` : '',
        `±${cost.rme.toFixed(1)}%`,
        int(cost.samples * result.batch),
        cost.spinnerPicksPerSecond === null ? '' : `${(cost.spinnerPicksPerSecond / 1e6).toFixed(1)} M/s`,
      ]),
  );
  return table(['select() with', 'contention', 'ns/pick', 'vs alone', 'rme', 'picks timed', 'picks by the others'], rows, ['left', 'left']);
}

if (import.meta.main) {
  const result = await runPickerBench({ timeMs: 1_000, spinners: Math.max(1, availableParallelism() - 1) }, (text) => console.error(text));
  console.log(pickerTable(result));
}
