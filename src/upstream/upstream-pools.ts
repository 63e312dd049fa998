/**
 * @module One undici keep-alive pool per backend slot, per listener thread, following the
 * membership: a pool is made when a backend enters a slot, and closed (gracefully: what
 * runs on it finishes) when the backend leaves the slot or another takes it.
 *
 * Why `dispatch` and not `request` or `stream`: a proxy only moves bytes from one
 * socket to another. `request` wraps every response in a Readable and `stream` in a
 * Writable factory plus a promise; `dispatch` hands us each chunk directly and lets us
 * pause the upstream socket when the client's socket is full, which is exactly what a
 * relay needs. bench/undici-api.bench.ts measures the three on the same backend.
 */
import { Pool } from 'undici';
import type { UpstreamTimeouts } from '../config/config.ts';
import type { Member } from '../routing/algorithms/algorithm.ts';

interface PoolEntry {
  readonly origin: string;
  readonly pool: Pool;
}

export class UpstreamPools {
  readonly #timeouts: UpstreamTimeouts;
  readonly #entries: Array<PoolEntry | undefined>;
  /** Pools being closed after their backend left; awaited by `close`. */
  readonly #closing = new Set<Promise<void>>();

  constructor(capacity: number, timeouts: UpstreamTimeouts) {
    this.#timeouts = timeouts;
    this.#entries = new Array<PoolEntry | undefined>(capacity);
  }

  /** Follows a new membership generation. */
  update(members: readonly Member[]): void {
    const present = new Set<number>();
    for (const { slot, origin } of members) {
      present.add(slot);
      const entry = this.#entries[slot];
      if (entry?.origin === origin) continue;
      if (entry) this.#retire(entry);
      this.#entries[slot] = { origin, pool: this.#create(origin) };
    }
    this.#entries.forEach((entry, slot) => {
      if (entry && !present.has(slot)) {
        this.#retire(entry);
        this.#entries[slot] = undefined;
      }
    });
  }

  /** The pool of the backend in `slot`. */
  get(slot: number): Pool {
    const entry = this.#entries[slot];
    if (!entry) throw new RangeError(`no upstream pool for slot ${slot}`);
    return entry.pool;
  }

  origin(slot: number): string {
    return this.#entries[slot]?.origin ?? `slot ${slot}`;
  }

  /** Closes every pool; with `force`, aborts what is still running. */
  async close(force = false): Promise<void> {
    const pools = this.#entries.filter((entry): entry is PoolEntry => entry !== undefined).map(({ pool }) => (force ? pool.destroy() : pool.close()));
    await Promise.allSettled([...pools, ...this.#closing]);
  }

  #retire({ pool }: PoolEntry): void {
    const closing = pool.close().catch(() => {});
    this.#closing.add(closing);
    void closing.finally(() => this.#closing.delete(closing));
  }

  #create(origin: string): Pool {
    const timeouts = this.#timeouts;
    return new Pool(origin, {
      // No cap: the client side already bounds concurrency (--max-connections), and a
      // cap here would queue requests invisibly inside the balancer.
      connections: null,
      pipelining: 1,
      connectTimeout: timeouts.connectMs,
      headersTimeout: timeouts.headersMs,
      bodyTimeout: timeouts.bodyIdleMs,
      // Close our idle upstream sockets well before a typical backend's own idle
      // timeout, so a request is rarely written to a socket the backend is closing.
      keepAliveTimeout: 4_000,
      keepAliveTimeoutThreshold: 1_000,
    });
  }
}
