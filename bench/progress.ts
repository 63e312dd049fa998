/**
 * @module The progress display, on stderr so that stdout holds only the tables. On a
 * terminal one live line is rewritten in place; elsewhere (CI, a pipe) a line is printed
 * at least every few seconds, so a run is never silent for long.
 */
import { performance } from 'node:perf_hooks';

const TTY_REFRESH_MS = 100;
const PIPE_EVERY_MS = 3_000;

export class Progress {
  readonly #out: NodeJS.WriteStream;
  readonly #tty: boolean;
  readonly #started = performance.now();
  #lastWrite = 0;
  #live = false;
  #step = '';

  constructor(out: NodeJS.WriteStream = process.stderr) {
    this.#out = out;
    this.#tty = out.isTTY === true;
  }

  /** Starts a new step: printed at once, and prefixed to its updates. */
  step(title: string): void {
    this.#step = title;
    this.#print(`${this.#clock()} ${title}`, true);
  }

  /** A live figure of the current step; may be dropped if it comes too soon. */
  update(text: string): void {
    const now = performance.now();
    if (now - this.#lastWrite < (this.#tty ? TTY_REFRESH_MS : PIPE_EVERY_MS)) return;
    this.#print(`${this.#clock()} ${this.#step}: ${text}`, false);
  }

  /** A line that stays (a step's result, a warning). */
  note(text: string): void {
    this.#print(`${this.#clock()}   ${text}`, true);
  }

  /** Leaves the terminal on a clean line. */
  end(): void {
    if (this.#tty && this.#live) this.#out.write('\n');
    this.#live = false;
  }

  #print(line: string, permanent: boolean): void {
    this.#lastWrite = performance.now();
    if (!this.#tty) {
      this.#out.write(`${line}\n`);
      return;
    }
    const width = Math.max(20, (this.#out.columns || 100) - 1);
    this.#out.write(`\r\x1b[2K${line.length > width ? `${line.slice(0, width - 1)}…` : line}`);
    this.#live = !permanent;
    if (permanent) this.#out.write('\n');
  }

  #clock(): string {
    const s = Math.floor((performance.now() - this.#started) / 1000);
    return `[${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}]`;
  }
}
