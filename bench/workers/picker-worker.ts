/**
 * @module Inside one picking thread (piscina tasks): `pick` makes a fixed number of
 * picks on the shared state and counts them per backend; `spin` picks as fast as it can
 * until told to stop, to contend with the thread that tinybench measures.
 */
import { createPicker, type Algorithm, type Picker } from '../../src/picker/picker.ts';
import { SharedState } from '../../src/shared/layout.ts';
import { StartGate } from './start-gate.ts';

export interface PickTask {
  readonly gate: SharedArrayBuffer;
  readonly state: SharedArrayBuffer;
  readonly times: number;
  /** `unsafe`: the foil below instead of switchyard's picker. */
  readonly algorithm: Algorithm | 'unsafe';
}

export interface SpinTask {
  readonly gate: SharedArrayBuffer;
  readonly state: SharedArrayBuffer;
  readonly algorithm: Algorithm;
  /** Int32Array slot 0: the main thread sets it to 1 to stop the spinning. */
  readonly stop: SharedArrayBuffer;
}

/**
 * Round robin the naive way, as a foil: read the shared ticket, write it back plus one.
 * Two threads that read the same ticket both use it, and one increment is lost. It uses
 * the round-robin slot of a separate SharedState, so the real one is not disturbed.
 */
export class UnsafeRoundRobin implements Picker {
  readonly #state: SharedState;
  readonly #n: number;

  constructor(state: SharedState) {
    this.#state = state;
    this.#n = state.backendCount;
  }

  pick(): number {
    const ticket = this.#state.getRoundRobinNext();
    this.#state.setRoundRobinNext(ticket + 1);
    return ticket % this.#n;
  }
}

export function pick(task: PickTask): number[] {
  const state = new SharedState(task.state);
  const picker = task.algorithm === 'unsafe' ? new UnsafeRoundRobin(state) : createPicker(task.algorithm, state);
  const counts = new Array<number>(state.backendCount).fill(0);
  new StartGate(task.gate).arriveAndWait();
  for (let i = 0; i < task.times; i++) {
    const backend = picker.pick();
    counts[backend] = (counts[backend] ?? 0) + 1;
  }
  return counts;
}

export function spin(task: SpinTask): number {
  const picker = createPicker(task.algorithm, new SharedState(task.state));
  const stop = new Int32Array(task.stop);
  new StartGate(task.gate).arrive();
  let picks = 0;
  let sink = 0;
  while (Atomics.load(stop, 0) === 0) {
    for (let i = 0; i < 1024; i++) sink += picker.pick();
    picks += 1024;
  }
  return sink >= 0 ? picks : -1;
}
