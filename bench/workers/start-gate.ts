/**
 * @module A start line for worker threads, so that their loops really overlap: each
 * thread arrives and sleeps in `Atomics.wait` (these threads have nothing else to do),
 * and the main thread, which never blocks, opens the gate once all have arrived.
 */
import { setTimeout as sleep } from 'node:timers/promises';

const ARRIVED = 0;
const OPEN = 1;
const ARRIVAL_TIMEOUT_MS = 30_000;

export class StartGate {
  readonly buffer: SharedArrayBuffer;
  readonly #i32: Int32Array;

  static create(): StartGate {
    return new StartGate(new SharedArrayBuffer(8));
  }

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.#i32 = new Int32Array(buffer);
  }

  /** Worker side: arrive, then sleep until the gate opens. */
  arriveAndWait(): void {
    Atomics.add(this.#i32, ARRIVED, 1);
    while (Atomics.load(this.#i32, OPEN) === 0) Atomics.wait(this.#i32, OPEN, 0, 1_000);
  }

  /** Worker side, for threads that must not sleep: just arrive. */
  arrive(): void {
    Atomics.add(this.#i32, ARRIVED, 1);
  }

  /** Main side: waits (without blocking) until `threads` have arrived, then opens. */
  async openWhenArrived(threads: number): Promise<void> {
    const deadline = performance.now() + ARRIVAL_TIMEOUT_MS;
    while (Atomics.load(this.#i32, ARRIVED) < threads) {
      if (performance.now() > deadline) throw new Error(`only ${Atomics.load(this.#i32, ARRIVED)} of ${threads} threads reached the start line`);
      await sleep(1);
    }
    Atomics.store(this.#i32, OPEN, 1);
    Atomics.notify(this.#i32, OPEN);
  }
}
