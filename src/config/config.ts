/**
 * @module The validated, frozen configuration every thread runs with, and its defaults.
 * It is plain data so that it crosses into worker threads as `workerData` unchanged.
 */
import type { Algorithm } from '../picker/picker.ts';

export interface UpstreamTimeouts {
  /** TCP connect to a backend (nginx proxy_connect_timeout, HAProxy timeout connect). */
  readonly connectMs: number;
  /** From the request sent until the response headers arrive (nginx proxy_read_timeout for the first byte). */
  readonly headersMs: number;
  /** Longest silence between two chunks of a response body. */
  readonly bodyIdleMs: number;
}

export interface ClientLimits {
  /** The whole request head must arrive within this (slowloris). */
  readonly headersTimeoutMs: number;
  /** Longest silence between two chunks of a request body. */
  readonly bodyIdleMs: number;
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveMs: number;
  /** Request line plus headers, in bytes: beyond it, 431. */
  readonly maxHeaderBytes: number;
  /** Request target, in bytes: beyond it, 414. */
  readonly maxUrlBytes: number;
  /** Request body, in bytes: beyond it, 413 (null: no limit). */
  readonly maxBodyBytes: number | null;
  /** Open client connections per listener thread: beyond it, new ones are closed at once. */
  readonly maxConnections: number;
}

export interface Config {
  readonly host: string;
  /** 0 means ephemeral. */
  readonly port: number;
  /** External upstream origins (`http://host:port`); empty means embedded backends. */
  readonly backends: readonly string[];
  readonly spawnBackends: number;
  readonly threads: number;
  readonly algorithm: Algorithm;
  readonly upstream: UpstreamTimeouts;
  readonly client: ClientLimits;
  /** How long SIGTERM/SIGINT waits for in-flight requests before aborting them. */
  readonly shutdownTimeoutMs: number;
}

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  spawnBackends: 2,
  algorithm: 'round-robin',
  upstream: { connectMs: 5_000, headersMs: 30_000, bodyIdleMs: 30_000 },
  client: {
    headersTimeoutMs: 10_000,
    bodyIdleMs: 30_000,
    keepAliveMs: 10_000,
    maxHeaderBytes: 16 * 1024,
    maxUrlBytes: 8 * 1024,
    maxBodyBytes: null,
    maxConnections: 10_000,
  },
  shutdownTimeoutMs: 15_000,
} as const satisfies Omit<Config, 'threads' | 'backends'>;
