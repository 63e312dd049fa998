/**
 * @module One undici keep-alive pool per backend, made once per listener thread and
 * reused by every request that thread proxies.
 *
 * Why `dispatch` and not `request` or `stream`: a proxy only moves bytes from one
 * socket to another. `request` wraps every response in a Readable and `stream` in a
 * Writable factory plus a promise; `dispatch` hands us each chunk directly and lets us
 * pause the upstream socket when the client's socket is full, which is exactly what a
 * relay needs. bench/undici-api.bench.ts measures the three on the same backend.
 */
import { Pool } from 'undici';
import type { UpstreamTimeouts } from '../config/config.ts';

export class UpstreamPools {
  readonly origins: readonly string[];
  readonly #pools: Pool[];

  constructor(origins: readonly string[], timeouts: UpstreamTimeouts) {
    this.origins = origins;
    this.#pools = origins.map(
      (origin) =>
        new Pool(origin, {
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
        }),
    );
  }

  get(backend: number): Pool {
    const pool = this.#pools[backend];
    if (!pool) throw new RangeError(`no upstream pool for backend ${backend}`);
    return pool;
  }

  /** Closes every pool; with `force`, aborts what is still running. */
  async close(force = false): Promise<void> {
    await Promise.allSettled(this.#pools.map((pool) => (force ? pool.destroy() : pool.close())));
  }
}
