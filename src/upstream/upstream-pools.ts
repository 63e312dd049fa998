/**
 * @module One keep-alive pool per backend slot, per listener thread, following the
 * membership: a pool is made when a backend enters a slot, and closed (gracefully: what
 * runs on it finishes) when the backend leaves the slot or another takes it.
 */
import { maxHeaderSize } from 'node:http';
import type { UpstreamConfig } from '../config/config.ts';
import type { Member } from '../routing/algorithms/algorithm.ts';
import { Deadlines } from '../shared/deadlines.ts';
import { tlsOptions } from './backend-tls.ts';
import { UpstreamPool } from './upstream-pool.ts';

interface PoolEntry {
  readonly origin: string;
  readonly pool: UpstreamPool;
}

/** Close idle upstream connections well before a typical backend's own idle timeout
 * (nginx 75 s, Node 5 s), so that a request is rarely written to a connection the
 * backend is closing; a backend's `Keep-Alive: timeout=` shortens it further. */
const IDLE_MS = 4_000;

export class UpstreamPools {
  #settings: UpstreamConfig;
  readonly #entries: Array<PoolEntry | undefined>;
  /** Pools being closed after their backend left; awaited by `close`. */
  readonly #closing = new Set<Promise<void>>();
  #deadlines: Deadlines;

  constructor(capacity: number, settings: UpstreamConfig) {
    this.#settings = settings;
    this.#deadlines = sweeperFor(settings);
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

  /**
   * New settings (a config reload): when they differ, every backend gets a fresh pool
   * made with them for the requests that come next, and the old pools close gracefully
   * (what runs or waits on them finishes, with the settings it started with).
   */
  reconfigure(settings: UpstreamConfig): void {
    if (JSON.stringify(settings) === JSON.stringify(this.#settings)) return;
    this.#settings = settings;
    this.#deadlines = sweeperFor(settings);
    this.#entries.forEach((entry, slot) => {
      if (!entry) return;
      this.#retire(entry);
      this.#entries[slot] = { origin: entry.origin, pool: this.#create(entry.origin) };
    });
  }

  /** The pool of the backend in `slot`. */
  get(slot: number): UpstreamPool {
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

  #create(origin: string): UpstreamPool {
    const { hostname, port, protocol } = new URL(origin);
    const settings = this.#settings;
    // URL keeps an IPv6 literal's brackets; a socket wants the bare address.
    const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
    const https = protocol === 'https:';
    return new UpstreamPool(
      {
        host,
        port: port === '' ? (https ? 443 : 80) : Number(port),
        tls: https ? tlsOptions(host, settings.tls) : null,
        connectMs: settings.connectMs,
        headersMs: settings.headersMs,
        bodyIdleMs: settings.bodyIdleMs,
        idleMs: IDLE_MS,
        maxHeaderBytes: maxHeaderSize,
      },
      // --upstream-connections; by default no cap, the client side bounding concurrency
      // (--max-connections). With a cap, requests beyond it wait in the pool's queue,
      // each under a deadline (shared/deadlines.ts, in the exchange).
      settings.maxConnections,
      this.#deadlines,
      settings.sendProxyProtocol,
    );
  }
}

/** One sweeper for the thread's upstream deadlines, as fine as the shortest of them. */
function sweeperFor(settings: UpstreamConfig): Deadlines {
  return new Deadlines(Math.min(settings.connectMs, settings.headersMs, settings.bodyIdleMs, IDLE_MS));
}
