/**
 * @module The deadline of requests waiting for an upstream connection. With
 * --upstream-connections, undici's pool queues a request until one of its connections is
 * free, first come first served, and runs no timer meanwhile (its headers timeout starts
 * once the request is written). Every wait must be bounded, so each listener thread
 * keeps the requests it dispatched and has not seen start yet, and one coarse timer
 * (running only while any are waiting) expires those that waited longer than
 * --connect-timeout.
 */
import { now } from '../shared/clock.ts';

export interface QueuedRequest {
  /** clock.now() when it was handed to the pool. */
  readonly queuedAt: number;
  /** Called once, when it waited past the deadline without starting. */
  queueExpired(): void;
}

export class QueueDeadlines {
  readonly #waiting = new Set<QueuedRequest>();
  readonly #limitMs: number;
  readonly #checkEveryMs: number;
  #timer: NodeJS.Timeout | null = null;

  constructor(limitMs: number) {
    this.#limitMs = limitMs;
    // A tenth of the limit: a request is answered at most 10% late, at 10 checks per
    // limit; never more often than every 10 ms.
    this.#checkEveryMs = Math.max(10, Math.floor(limitMs / 10));
  }

  watch(request: QueuedRequest): void {
    this.#waiting.add(request);
    if (this.#timer === null) {
      this.#timer = setInterval(() => this.#expire(), this.#checkEveryMs);
      this.#timer.unref();
    }
  }

  /** It started (or ended otherwise): no deadline any more. */
  release(request: QueuedRequest): void {
    this.#waiting.delete(request);
  }

  #expire(): void {
    const at = now();
    // In dispatch order: the first one still within its limit ends the scan.
    for (const request of this.#waiting) {
      if (at - request.queuedAt < this.#limitMs) break;
      this.#waiting.delete(request);
      request.queueExpired();
    }
    if (this.#waiting.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }
}
