/**
 * @module One reading of everything an operator may want, straight from shared memory:
 * every filled slot, every listener row, the balancer-wide counters. /metrics, /status,
 * /healthz and the dashboard's event stream all format this one object, so they cannot
 * disagree on what a figure means. Read by the main thread only, never on the hot path.
 */
import { ERROR_CODES, STATUS_BY_CODE, type ErrorCode } from '../errors.ts';
import { latencyEstimate } from '../routing/latency.ts';
import { rampFactor } from '../routing/slow-start.ts';
import { between, now, stamp } from '../shared/clock.ts';
import { FAILURE_REASONS, LATENCY_BOUNDS_MICROS, SLOT_STATE, type FailureReason, type SlotState } from '../shared/layout.ts';
import type { ListenerSnapshot, SharedState } from '../shared/shared-state.ts';

export type EjectionName = 'in' | 'ejected' | 'trial';
const EJECTION_NAME: readonly EjectionName[] = ['in', 'ejected', 'trial'];
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];

/** Time to response headers, as counted in shared memory: one cell per bound, then the rest. */
export interface LatencyHistogram {
  /** Per cell (not cumulative): responses in (bound i-1, bound i]; the last cell, above every bound. */
  readonly cells: readonly number[];
  /** Sum of every counted time, µs. */
  readonly sumMicros: number;
  /** Responses counted (the sum of the cells). */
  readonly count: number;
}

/**
 * A backend's state in one word, most telling first: an operator's choice (disabled,
 * draining) before active checks' verdict (down) before passive health (ejected, trial).
 * `up` is the one state in which picks may choose it.
 */
export type BackendStatus = 'up' | 'ejected' | 'trial' | 'down' | 'draining' | 'disabled';

export function statusOf(backend: { readonly state: SlotState; readonly healthy: boolean; readonly ejection: EjectionName }): BackendStatus {
  if (backend.state === 'disabled' || backend.state === 'draining') return backend.state;
  if (!backend.healthy) return 'down';
  return backend.ejection === 'in' ? 'up' : backend.ejection;
}

export interface BackendStats {
  /** The slot number: the backend's id in the admin API. */
  readonly id: number;
  readonly origin: string;
  readonly state: SlotState;
  readonly weight: number;
  /** The weight picks use now: lower while slow start ramps it up. */
  readonly effectiveWeight: number;
  /** Preference tier (an SRV priority; 0 otherwise): picks use the lowest tier with a backend up. */
  readonly tier: number;
  /** Active health checks' verdict (always true without them). */
  readonly healthy: boolean;
  readonly ejection: EjectionName;
  /** Whether picks may choose it now: active, healthy, not ejected. */
  readonly up: boolean;
  /** ms until the current ejection runs out; 0 when not ejected. */
  readonly ejectedForMs: number;
  readonly ejectionLevel: number;
  readonly started: number;
  readonly failures: number;
  readonly retries: number;
  readonly ejections: number;
  readonly trials: number;
  readonly inFlight: number;
  readonly consecutiveFailures: number;
  /** The peak-EWMA latency picks see now (decayed), µs; 0 = no sample. */
  readonly ewmaMicros: number;
  readonly responses: Readonly<Record<StatusClass, number>>;
  readonly failuresBy: Readonly<Record<Exclude<FailureReason, 'none'>, number>>;
  readonly latency: LatencyHistogram;
}

export interface ListenerStats extends ListenerSnapshot {
  readonly index: number;
}

export interface OwnResponse {
  readonly code: ErrorCode;
  readonly status: number;
  readonly count: number;
}

export interface Stats {
  /** clock.now() of this reading, ms. */
  readonly at: number;
  readonly generation: number;
  readonly roundRobin: { readonly next: number; readonly wrap: number };
  readonly requestsInFlight: number;
  readonly retries: { readonly inFlight: number; readonly peak: number; readonly refused: number };
  readonly noBackend: number;
  readonly ejected: number;
  readonly ejectionsRefused: number;
  /** Connections closed without a valid PROXY protocol header. */
  readonly proxyHeaderRefused: number;
  readonly h2ResetFloods: number;
  /** Requests the balancer answered itself, by error code (every code, zeros included). */
  readonly answered: readonly OwnResponse[];
  readonly backends: readonly BackendStats[];
  readonly listeners: readonly ListenerStats[];
}

export function readStats(state: SharedState, { slowStartMs }: { readonly slowStartMs: number }): Stats {
  const at = now();
  const backends: BackendStats[] = [];
  for (let slot = 0; slot < state.capacity; slot++) {
    if (state.load(slot, 'state') !== SLOT_STATE.empty) backends.push(readBackend(state, slot, at, slowStartMs));
  }
  return {
    at,
    generation: state.header('generation'),
    roundRobin: { next: state.getRoundRobinNext(), wrap: state.roundRobinWrap },
    requestsInFlight: state.header('requestsInFlight'),
    retries: { inFlight: state.header('retriesInFlight'), peak: state.header('retriesPeak'), refused: state.headerCount('retriesRefused') },
    noBackend: state.headerCount('noBackend'),
    ejected: state.header('ejected'),
    ejectionsRefused: state.headerCount('ejectionsRefused'),
    proxyHeaderRefused: state.headerCount('proxyHeaderRefused'),
    h2ResetFloods: state.headerCount('h2ResetFloods'),
    answered: ERROR_CODES.map((code, cell) => ({ code, status: STATUS_BY_CODE[code], count: state.headerCountAt('answered', cell) })),
    backends,
    listeners: state.listeners().map((row, index) => ({ index, ...row })),
  };
}

function readBackend(state: SharedState, slot: number, at: number, slowStartMs: number): BackendStats {
  const snapshot = state.snapshot(slot);
  const ejection = EJECTION_NAME[snapshot.ejection] ?? 'in';
  const ramp = snapshot.ramping && slowStartMs > 0 ? rampFactor(state.load(slot, 'rejoinedAt'), at, slowStartMs) : 1;
  const cells = Array.from({ length: LATENCY_BOUNDS_MICROS.length + 1 }, (_, cell) => state.count(slot, 'latency', cell));
  const failuresBy = Object.fromEntries(
    FAILURE_REASONS.flatMap((reason, cell) => (reason === 'none' ? [] : [[reason, state.count(slot, 'failuresBy', cell)]])),
  ) as Record<Exclude<FailureReason, 'none'>, number>;
  return {
    id: slot,
    origin: snapshot.origin,
    state: snapshot.state,
    weight: snapshot.weight,
    effectiveWeight: Math.round(snapshot.weight * ramp * 100) / 100,
    tier: snapshot.tier,
    healthy: snapshot.healthy,
    ejection,
    up: statusOf({ state: snapshot.state, healthy: snapshot.healthy, ejection }) === 'up',
    ejectedForMs: ejection === 'in' ? 0 : Math.max(0, between(stamp(at), state.load(slot, 'ejectedUntil'))),
    ejectionLevel: state.load(slot, 'ejectionLevel'),
    started: snapshot.started,
    failures: snapshot.failures,
    retries: snapshot.retries,
    ejections: snapshot.ejections,
    trials: state.count(slot, 'trials'),
    inFlight: snapshot.inFlight,
    consecutiveFailures: snapshot.consecutiveFailures,
    ewmaMicros: latencyEstimate(state, slot, at),
    responses: Object.fromEntries(STATUS_CLASSES.map((name, cell) => [name, state.count(slot, 'responses', cell)])) as Record<StatusClass, number>,
    failuresBy,
    latency: { cells, sumMicros: state.count(slot, 'latencyMicros'), count: cells.reduce((sum, n) => sum + n, 0) },
  };
}

/**
 * The q-quantile (0..1) of a histogram's cells, µs, interpolated linearly inside the
 * cell it falls in (as Prometheus's histogram_quantile does); null when it is empty.
 * The last cell has no upper bound: a quantile there reports the largest bound.
 */
export function histogramQuantile(cells: readonly number[], q: number): number | null {
  const total = cells.reduce((sum, n) => sum + n, 0);
  if (total === 0) return null;
  const rank = q * total;
  let below = 0;
  for (let cell = 0; cell < cells.length; cell++) {
    const inCell = cells[cell] ?? 0;
    if (below + inCell >= rank && inCell > 0) {
      const upper = LATENCY_BOUNDS_MICROS[cell];
      if (upper === undefined) return LATENCY_BOUNDS_MICROS[LATENCY_BOUNDS_MICROS.length - 1] as number;
      const lower = cell === 0 ? 0 : (LATENCY_BOUNDS_MICROS[cell - 1] as number);
      return lower + ((upper - lower) * (rank - below)) / inCell;
    }
    below += inCell;
  }
  return LATENCY_BOUNDS_MICROS[LATENCY_BOUNDS_MICROS.length - 1] as number;
}
