/**
 * @module Section 2, picker cost (tinybench): nanoseconds per pick for every algorithm
 * switchyard has, uncontended, then with every other core spinning picks on the same
 * shared state (piscina threads) while tinybench measures on this thread. A bare
 * `Atomics.add` on the same slot is the floor. Runs alone too: `node bench/picker.bench.ts`.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { Bench } from 'tinybench';
import { ALGORITHMS, createPicker } from '../src/picker/picker.ts';
import { SharedState } from '../src/shared/layout.ts';
import { ns, int, table } from './report.ts';
import type { SpinTask } from './workers/picker-worker.ts';
import { StartGate } from './workers/start-gate.ts';

const PICKER_WORKER = new URL('./workers/picker-worker.ts', import.meta.url).href;
/** Picks per tinybench sample: one pick (~10 ns) is far below the timer's resolution. */
const BATCH = 1_000;
const BACKENDS = 3;
const FLOOR = 'Atomics.add only (floor)';

export interface PickerBenchOptions {
  /** tinybench time budget per task, in ms. */
  readonly timeMs: number;
  /** Threads spinning picks during the contended round (every other core: cores - 1). */
  readonly spinners: number;
}

export interface PickerCost {
  readonly task: string;
  readonly contended: boolean;
  readonly nsPerPick: number;
  /** Relative margin of error of the mean, percent. */
  readonly rme: number;
  readonly samples: number;
  /** Picks per second the spinning threads made meanwhile (contended rounds only). */
  readonly spinnerPicksPerSecond: number | null;
}

export interface PickerBenchResult {
  readonly batch: number;
  readonly spinners: number;
  readonly costs: readonly PickerCost[];
}

export async function runPickerBench(options: PickerBenchOptions, step: (text: string) => void = () => {}): Promise<PickerBenchResult> {
  const state = SharedState.create({ backendCount: BACKENDS, listenerCount: 1 });
  const costs: PickerCost[] = [];
  step('uncontended');
  costs.push(...(await measure(state, options.timeMs, false, step)));

  const pool = new Piscina({ filename: PICKER_WORKER, minThreads: options.spinners, maxThreads: options.spinners });
  const stop = new SharedArrayBuffer(4);
  try {
    step(`contended: ${options.spinners} thread${options.spinners === 1 ? '' : 's'} spinning on the same counter`);
    const gate = StartGate.create();
    const started = performance.now();
    const task: SpinTask = { gate: gate.buffer, state: state.buffer, algorithm: 'round-robin', stop };
    const spinning = Array.from({ length: options.spinners }, () => pool.run(task, { name: 'spin' }) as Promise<number>);
    await gate.openWhenArrived(options.spinners);
    const contended = await measure(state, options.timeMs, true, step);
    Atomics.store(new Int32Array(stop), 0, 1);
    const spun = (await Promise.all(spinning)).reduce((sum, n) => sum + n, 0);
    const rate = spun / ((performance.now() - started) / 1000);
    costs.push(...contended.map((cost) => ({ ...cost, spinnerPicksPerSecond: rate })));
  } finally {
    Atomics.store(new Int32Array(stop), 0, 1);
    await pool.destroy();
  }
  return { batch: BATCH, spinners: options.spinners, costs };
}

async function measure(state: SharedState, timeMs: number, contended: boolean, step: (text: string) => void): Promise<PickerCost[]> {
  const bench = new Bench({ time: timeMs, warmupTime: Math.min(250, timeMs / 2) });
  let sink = 0;
  for (const algorithm of ALGORITHMS) {
    const picker = createPicker(algorithm, state);
    bench.add(algorithm, () => {
      for (let i = 0; i < BATCH; i++) sink += picker.pick();
    });
  }
  bench.add(FLOOR, () => {
    for (let i = 0; i < BATCH; i++) sink += state.addRoundRobin(1) & 1;
  });
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
  const rows = result.costs.map((cost) => [
    cost.task,
    cost.contended ? `vs ${result.spinners} spinning thread${result.spinners === 1 ? '' : 's'}` : 'uncontended',
    ns(cost.nsPerPick),
    `±${cost.rme.toFixed(1)}%`,
    int(cost.samples * result.batch),
    cost.spinnerPicksPerSecond === null ? '' : `${int(cost.spinnerPicksPerSecond / 1e6)} M/s`,
  ]);
  return table(['picker', 'contention', 'ns/pick', 'rme', 'picks timed', 'picks by spinners'], rows, ['left', 'left']);
}

if (import.meta.main) {
  const result = await runPickerBench({ timeMs: 1_000, spinners: Math.max(1, availableParallelism() - 1) }, (text) => console.error(text));
  console.log(pickerTable(result));
}
