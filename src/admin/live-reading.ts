/**
 * @module The compact reading the dashboard's event stream sends a few times a second:
 * `context.stats()` cut down to what the page shows, with one status word per backend and
 * latency quantiles over the last few seconds (not since start, which would hide a
 * backend that just became slow). The page turns successive readings into rates.
 *
 * The window needs the histogram as it was LATENCY_WINDOW_MS ago, which only a stream
 * that has been open that long has seen: until then quantiles cover everything since
 * the balancer started, and the reading says so (`latencyWindowMs: null`).
 */
import type { AdminContext } from './admin-context.ts';
import { histogramQuantile, statusOf, type BackendStats, type BackendStatus, type StatusClass, type Stats } from './stats.ts';

/** Latency quantiles cover the responses of this last stretch of time. */
export const LATENCY_WINDOW_MS = 10_000;

export interface LiveBackend {
  readonly id: number;
  readonly origin: string;
  readonly status: BackendStatus;
  readonly state: BackendStats['state'];
  readonly healthy: boolean;
  readonly ejection: BackendStats['ejection'];
  /** ms left in the current ejection; 0 when not ejected. */
  readonly ejectedForMs: number;
  readonly weight: number;
  readonly effectiveWeight: number;
  readonly inFlight: number;
  /** Attempts started at it, retries included: `switchyard_backend_requests_total`. */
  readonly started: number;
  readonly responses: Readonly<Record<StatusClass, number>>;
  readonly failures: number;
  readonly retries: number;
  readonly ejections: number;
  readonly trials: number;
  /** Time to response headers (see latencyWindowMs), ms to the µs; null: no response in it. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

export interface LiveListener {
  readonly index: number;
  readonly accepting: boolean;
  readonly connections: number;
  readonly connectionsOpen: number;
  readonly requests: number;
  readonly loopDelayP99Ms: number;
  readonly restarts: number;
}

export interface LiveReading {
  /** This stream's tick number: the same reading carries the same number on every connection. */
  readonly seq: number;
  /** Date.now() of the reading (the chart's time axis). */
  readonly time: number;
  /** Monotonic ms of the reading (clock.ts): rates are differences of these. */
  readonly at: number;
  /** Names this balancer's admin listener: a new value means the balancer restarted, and its counters began again from zero. */
  readonly instance: string;
  /** When the balancer's process started (Unix ms). */
  readonly bootedAt: number;
  readonly generation: number;
  /** The next round-robin ticket, and where it folds back to 0. */
  readonly ticket: number;
  readonly ticketWrap: number;
  readonly requestsInFlight: number;
  readonly retries: Stats['retries'];
  readonly ejected: number;
  readonly ejectionsRefused: number;
  /** What p50Ms and p99Ms cover: the last this many ms, or (null) everything since the start. */
  readonly latencyWindowMs: number | null;
  /** Responses the balancer wrote itself, by error code; codes never used are left out. */
  readonly answered: ReadonlyArray<{ readonly code: string; readonly status: number; readonly count: number }>;
  readonly backends: readonly LiveBackend[];
  readonly listeners: readonly LiveListener[];
}

/** Histogram cells as they were at `at`, by backend (`id origin`, so a refilled slot starts afresh). */
interface CellsAt {
  readonly at: number;
  readonly cells: ReadonlyMap<string, readonly number[]>;
}

/**
 * Turns successive stats into readings, numbered from 1; keeps the histogram cells of
 * the last window. Meant to be called every few hundred ms while someone watches, and
 * dropped when nobody does (old cells would make the window too long).
 */
export class LiveReadings {
  readonly #context: AdminContext;
  readonly #instance: string;
  #seq = 0;
  /** Oldest first; the first one is the newest taken at or before the window's start, once there is one. */
  readonly #history: CellsAt[] = [];

  constructor(context: AdminContext, instance: string) {
    this.#context = context;
    this.#instance = instance;
  }

  next(stats: Stats = this.#context.stats()): LiveReading {
    const windowStart = stats.at - LATENCY_WINDOW_MS;
    this.#history.push({ at: stats.at, cells: new Map(stats.backends.map((backend) => [keyOf(backend), backend.latency.cells])) });
    while (this.#history.length > 1 && (this.#history[1] as CellsAt).at <= windowStart) this.#history.shift();
    const oldest = this.#history[0] as CellsAt;
    const since = oldest.at <= windowStart ? oldest.cells : null;
    return {
      seq: ++this.#seq,
      time: Date.now(),
      at: Math.round(stats.at),
      instance: this.#instance,
      bootedAt: this.#context.startedAt,
      generation: stats.generation,
      ticket: stats.roundRobin.next,
      ticketWrap: stats.roundRobin.wrap,
      requestsInFlight: stats.requestsInFlight,
      retries: stats.retries,
      ejected: stats.ejected,
      ejectionsRefused: stats.ejectionsRefused,
      latencyWindowMs: since === null ? null : LATENCY_WINDOW_MS,
      answered: stats.answered.filter(({ count }) => count > 0),
      // A backend missing from the window's start is newer than it: all its cells count.
      backends: stats.backends.map((backend) => liveBackend(backend, since?.get(keyOf(backend)))),
      listeners: stats.listeners.map((listener) => ({
        index: listener.index,
        accepting: listener.accepting,
        connections: listener.connections,
        connectionsOpen: listener.connectionsOpen,
        requests: listener.requests,
        loopDelayP99Ms: listener.loopDelayP99Micros / 1000,
        restarts: this.#context.listeners[listener.index]?.restarts ?? 0,
      })),
    };
  }
}

function keyOf(backend: BackendStats): string {
  return `${backend.id} ${backend.origin}`;
}

/** `before`: its cells at the start of the window; absent: count every response. */
function liveBackend(backend: BackendStats, before: readonly number[] | undefined): LiveBackend {
  const inWindow = backend.latency.cells.map((count, cell) => count - (before?.[cell] ?? 0));
  const quantileMs = (q: number): number | null => {
    const micros = histogramQuantile(inWindow, q);
    return micros === null ? null : Math.round(micros) / 1000;
  };
  return {
    id: backend.id,
    origin: backend.origin,
    status: statusOf(backend),
    state: backend.state,
    healthy: backend.healthy,
    ejection: backend.ejection,
    ejectedForMs: Math.round(backend.ejectedForMs),
    weight: backend.weight,
    effectiveWeight: backend.effectiveWeight,
    inFlight: backend.inFlight,
    started: backend.started,
    responses: backend.responses,
    failures: backend.failures,
    retries: backend.retries,
    ejections: backend.ejections,
    trials: backend.trials,
    p50Ms: quantileMs(0.5),
    p99Ms: quantileMs(0.99),
  };
}
