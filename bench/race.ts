/**
 * @module Section 1, the race made visible: several piscina threads increment one shared
 * counter, first with a plain read-modify-write, then with `Atomics.add`; then the same
 * threads pick backends concurrently, first with a naive shared ticket, then through
 * real Selectors with round robin (each thread its own view and selector, as a listener
 * thread has), started just below the counter's fold so that the run crosses it. The
 * picking threads are the race tests' own (test/fixtures/race/).
 */
import { Piscina } from 'piscina';
import type { SharedState } from '../src/shared/shared-state.ts';
import type { PickResult, PickTask } from '../test/fixtures/race/pick-worker.ts';
import { stateWithBackends } from '../test/fixtures/race/picker-thread.ts';
import { StartGate } from '../test/fixtures/race/start-gate.ts';
import type { CounterTask } from './workers/counter-worker.ts';
import { int, percent, signed, table, wrap } from './report.ts';

const COUNTER_WORKER = new URL('./workers/counter-worker.ts', import.meta.url).href;
const PICK_WORKER = new URL('../test/fixtures/race/pick-worker.ts', import.meta.url).href;
/** Three backends: not a power of two, so a ticket that wrapped at 2^32 would show. */
const RACE_BACKENDS = 3;

export interface RaceOptions {
  readonly threads: number;
  readonly incrementsPerThread: number;
  /** Rounded up to a multiple of the backend count, so an exact split is whole numbers. */
  readonly picksPerThread: number;
}

export interface CounterRace {
  readonly expected: number;
  readonly final: number;
  readonly lost: number;
  readonly ms: number;
}

export interface PickerRace {
  readonly picker: string;
  readonly picks: number;
  readonly counts: readonly number[];
  readonly expectedEach: number;
  readonly deviations: readonly number[];
  /** Tickets handed out more than once (increments lost on the shared ticket). */
  readonly repeatedTickets: number;
  readonly exact: boolean;
  readonly ms: number;
}

export interface RaceSection {
  readonly threads: number;
  readonly plain: CounterRace;
  readonly atomic: CounterRace;
  readonly backends: number;
  readonly unsafePicker: PickerRace;
  readonly roundRobin: PickerRace & { readonly startedAt: number; readonly foldAt: number; readonly endedAt: number; readonly foldCrossedExactly: boolean };
}

export async function runRace(options: RaceOptions, step: (text: string) => void): Promise<RaceSection> {
  // One task per thread: the start gate needs every racer running its own task.
  const pool = new Piscina({ minThreads: options.threads, maxThreads: options.threads, concurrentTasksPerWorker: 1 });
  try {
    step(`plain a[0] = a[0] + 1 on ${options.threads} threads`);
    const plain = await counterRace(pool, options, false);
    step('Atomics.add(a, 0, 1)');
    const atomic = await counterRace(pool, options, true);

    const picksPerThread = Math.ceil(options.picksPerThread / RACE_BACKENDS) * RACE_BACKENDS;
    const total = picksPerThread * options.threads;
    step('naive shared ticket (load, then store + 1)');
    const weights = Array.from({ length: RACE_BACKENDS }, () => 1);
    const { state: unsafeState } = stateWithBackends(weights, options.threads);
    const unsafe = await pickerRace(pool, options.threads, picksPerThread, unsafeState, 'unsafe');
    const unsafePicker = { ...unsafe, picker: 'naive shared ticket', repeatedTickets: total - unsafeState.getRoundRobinNext() };

    step('round robin through Selectors (Atomics.add), across the fold');
    const { state } = stateWithBackends(weights, options.threads);
    const foldAt = state.roundRobinWrap;
    const startedAt = foldAt - Math.floor(total / 2);
    state.setRoundRobin(startedAt);
    const rr = await pickerRace(pool, options.threads, picksPerThread, state, 'round-robin');
    const endedAt = state.getRoundRobinNext();
    return {
      threads: options.threads,
      plain,
      atomic,
      backends: RACE_BACKENDS,
      unsafePicker,
      roundRobin: {
        ...rr,
        picker: 'round robin (Selector)',
        // Every ticket handed out once: the counter moved by exactly `total` (folding once).
        repeatedTickets: total - (endedAt >= startedAt ? endedAt - startedAt : endedAt + foldAt - startedAt),
        startedAt,
        foldAt,
        endedAt,
        foldCrossedExactly: endedAt === startedAt + total - foldAt,
      },
    };
  } finally {
    await pool.destroy();
  }
}

async function counterRace(pool: Piscina, options: RaceOptions, atomic: boolean): Promise<CounterRace> {
  const counter = new SharedArrayBuffer(4);
  const gate = StartGate.create();
  const task: CounterTask = { gate: gate.buffer, counter, times: options.incrementsPerThread, atomic };
  const runs = Array.from({ length: options.threads }, () => pool.run(task, { filename: COUNTER_WORKER }) as Promise<void>);
  await gate.openWhenArrived(options.threads);
  const started = performance.now();
  await Promise.all(runs);
  const ms = performance.now() - started;
  const expected = options.threads * options.incrementsPerThread;
  const final = new Int32Array(counter)[0] ?? 0;
  return { expected, final, lost: expected - final, ms };
}

async function pickerRace(
  pool: Piscina,
  threads: number,
  picksPerThread: number,
  state: SharedState,
  algorithm: PickTask['algorithm'],
): Promise<Omit<PickerRace, 'picker' | 'repeatedTickets'>> {
  const gate = StartGate.create();
  const runs = Array.from({ length: threads }, (_, listener) => {
    const task: PickTask = { gate: gate.buffer, state: state.buffer, times: picksPerThread, algorithm, listener, recordTickets: false };
    return pool.run(task, { filename: PICK_WORKER, name: 'pick' }) as Promise<PickResult>;
  });
  await gate.openWhenArrived(threads);
  const started = performance.now();
  const perThread = await Promise.all(runs);
  const ms = performance.now() - started;
  const counts = Array.from({ length: state.capacity }, (_, b) => perThread.reduce((sum, r) => sum + (r.counts[b] ?? 0), 0));
  const picks = threads * picksPerThread;
  const expectedEach = picks / state.capacity;
  const deviations = counts.map((c) => c - expectedEach);
  return { picks, counts, expectedEach, deviations, exact: deviations.every((d) => d === 0), ms };
}

export function raceTable(race: RaceSection): string {
  const counter = table(
    ['update', 'expected', 'final count', 'lost updates'],
    [race.plain, race.atomic].map((run, i) => [
      i === 0 ? 'plain a[0] = a[0] + 1' : 'Atomics.add(a, 0, 1)',
      int(run.expected),
      int(run.final),
      run.lost === 0 ? '0' : `${int(run.lost)} (${percent(run.lost / run.expected)})`,
    ]),
  );
  const backends = Array.from({ length: race.backends }, (_, b) => `backend ${b}`);
  const picker = table(
    ['picker', ...backends, 'deviation', 'tickets repeated', 'exact'],
    [race.unsafePicker, race.roundRobin].map((run) => [
      run === race.roundRobin ? 'round robin, Selector (Atomics.add)' : 'naive ticket (load; store + 1)',
      ...run.counts.map(int),
      run.deviations.map(signed).join(' / '),
      int(run.repeatedTickets),
      run.exact && run.repeatedTickets === 0 ? 'yes' : 'NO',
    ]),
  );
  const rr = race.roundRobin;
  return [
    `  ${race.threads} threads of one piscina pool, started together, ${int(race.plain.expected / race.threads)} increments each:`,
    '',
    counter,
    '',
    `  The same threads, ${int(rr.picks / race.threads)} picks each over ${race.backends} backends (exact split: ${int(rr.expectedEach)} each):`,
    '',
    picker,
    '',
    wrap(
      `The naive split can look nearly even while ${int(race.unsafePicker.repeatedTickets)} tickets were handed out twice: per-backend counts alone hide lost updates. ` +
        `Round robin's counter started ${int(rr.foldAt - rr.startedAt)} below its fold (${int(rr.foldAt)}) and ended at ${int(rr.endedAt)}: ` +
        (rr.foldCrossedExactly ? 'it folded once and every ticket was used exactly once.' : 'NOT where exact round robin ends: tickets were lost or repeated.'),
    ),
  ].join('\n');
}
