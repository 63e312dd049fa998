/**
 * @module Inside one race thread (a piscina task): increments the one shared counter
 * `times` times, either with a plain read-modify-write, which loses updates when another
 * thread writes between the read and the write, or with `Atomics.add`, which cannot.
 */
import { StartGate } from '../../test/fixtures/race/start-gate.ts';

export interface CounterTask {
  readonly gate: SharedArrayBuffer;
  readonly counter: SharedArrayBuffer;
  readonly times: number;
  readonly atomic: boolean;
}

export default function increment(task: CounterTask): void {
  const counter = new Int32Array(task.counter);
  new StartGate(task.gate).arriveAndWait();
  if (task.atomic) addAtomically(counter, task.times);
  else addPlainly(counter, task.times);
}

function addPlainly(counter: Int32Array, times: number): void {
  for (let i = 0; i < times; i++) counter[0] = (counter[0] ?? 0) + 1;
}

function addAtomically(counter: Int32Array, times: number): void {
  for (let i = 0; i < times; i++) Atomics.add(counter, 0, 1);
}
