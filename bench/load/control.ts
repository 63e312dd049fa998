/**
 * @module The load generator's shared control block: one phase word that only the main
 * thread writes, and one line of counters per load thread that only that thread writes.
 * The main thread reads the counters live for the progress display and to bracket the
 * measured window.
 *
 * ```
 * int32 slot        what                                  written by
 * ------------------------------------------------------------------------------
 * 0                 PHASE: 0 warm-up, 1 measure, 2 stop   main thread
 * 16 + 16w + 0      COMPLETED responses of load thread w  load thread w
 * 16 + 16w + 1      ERRORS of load thread w               load thread w
 * ```
 *
 * Each thread's line is 64 bytes apart from the next so that counting a response never
 * contends for another thread's cache line (the bench measures CPU, not false sharing).
 */

export const Phase = { WARMUP: 0, MEASURE: 1, STOP: 2 } as const;
export type Phase = (typeof Phase)[keyof typeof Phase];

const PHASE = 0;
const FIRST_LINE = 16;
const LINE = 16;
const COMPLETED = 0;
const ERRORS = 1;

export class LoadControl {
  readonly buffer: SharedArrayBuffer;
  readonly threads: number;
  readonly #i32: Int32Array;

  static create(threads: number): LoadControl {
    return new LoadControl(new SharedArrayBuffer((FIRST_LINE + threads * LINE) * 4));
  }

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.#i32 = new Int32Array(buffer);
    this.threads = (this.#i32.length - FIRST_LINE) / LINE;
  }

  get phase(): Phase {
    return Atomics.load(this.#i32, PHASE) as Phase;
  }

  setPhase(phase: Phase): void {
    Atomics.store(this.#i32, PHASE, phase);
  }

  /** Load thread `thread` got a response (or an error, with `failed`). */
  countResponse(thread: number, failed: boolean): void {
    const at = FIRST_LINE + thread * LINE;
    Atomics.add(this.#i32, at + COMPLETED, 1);
    if (failed) Atomics.add(this.#i32, at + ERRORS, 1);
  }

  /** Every response and error counted so far, over all load threads. */
  totals(): { completed: number; errors: number } {
    let completed = 0;
    let errors = 0;
    for (let t = 0; t < this.threads; t++) {
      const at = FIRST_LINE + t * LINE;
      completed += Atomics.load(this.#i32, at + COMPLETED);
      errors += Atomics.load(this.#i32, at + ERRORS);
    }
    return { completed, errors };
  }

  reset(): void {
    this.#i32.fill(0);
  }
}
