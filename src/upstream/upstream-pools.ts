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
import type { UpstreamConfig } from '../config/config.ts';
import type { Member } from '../routing/algorithms/algorithm.ts';

interface PoolEntry {
  readonly origin: string;
  readonly pool: Pool;
}

export class UpstreamPools {
  readonly #settings: UpstreamConfig;
  readonly #entries: Array<PoolEntry | undefined>;
  /** Pools being closed after their backend left; awaited by `close`. */
  readonly #closing = new Set<Promise<void>>();

  constructor(capacity: number, settings: UpstreamConfig) {
    this.#settings = settings;
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
    const settings = this.#settings;
    return new Pool(origin, {
      // --upstream-connections; by default no cap, the client side bounding concurrency
      // (--max-connections). With a cap, requests beyond it wait in the pool's queue,
      // each under a deadline (queue-deadlines.ts).
      connections: settings.maxConnections,
      pipelining: 1,
      connectTimeout: settings.connectMs,
      headersTimeout: settings.headersMs,
      bodyTimeout: settings.bodyIdleMs,
      // Close our idle upstream sockets well before a typical backend's own idle
      // timeout, so a request is rarely written to a socket the backend is closing.
      keepAliveTimeout: 4_000,
      keepAliveTimeoutThreshold: 1_000,
    });
  }
}
