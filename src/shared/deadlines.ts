/**
 * @module The timeouts of one listener thread, checked by one coarse timer instead of a
 * timer each: its upstream connections (connect, response headers, body silence,
 * keep-alive idle), its client connections (request head, body silence, keep-alive
 * idle) and, with --upstream-connections, the requests waiting for a free connection;
 * each kind with its own sweeper. Arming a deadline is storing a number on the connection: the
 * body-silence deadline moves with every chunk, and a per-chunk `setTimeout` or
 * `refresh` is the kind of work the lean data path exists to avoid. The check runs ten
 * times per shortest timeout (a deadline fires at most 10% late), and only while
 * connections exist.
 */
import { now } from './clock.ts';

export interface Timed {
  /** clock.now() past which `expired` is called; 0 when nothing is timed. */
  readonly deadline: number;
  expired(): void;
}

export class Deadlines {
  readonly #timed = new Set<Timed>();
  readonly #checkEveryMs: number;
  #timer: NodeJS.Timeout | null = null;

  /** `shortestMs`: the shortest timeout any connection arms. */
  constructor(shortestMs: number) {
    this.#checkEveryMs = Math.min(250, Math.max(5, Math.floor(shortestMs / 10)));
  }

  add(connection: Timed): void {
    this.#timed.add(connection);
    if (this.#timer === null) {
      this.#timer = setInterval(() => this.#check(), this.#checkEveryMs);
      this.#timer.unref();
    }
  }

  delete(connection: Timed): void {
    this.#timed.delete(connection);
    if (this.#timed.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  #check(): void {
    const at = now();
    for (const connection of this.#timed) {
      const { deadline } = connection;
      if (deadline !== 0 && deadline <= at) connection.expired();
    }
  }
}
