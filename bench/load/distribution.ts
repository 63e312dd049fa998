/**
 * @module How the balancer spread a run: per backend (from the picks counted in shared
 * state, checked against what exact round robin must give and against what the backends
 * themselves answered) and per listener thread (what the kernel's reusePort gave each).
 */
import type { ListenerSnapshot, SlotSnapshot } from '../../src/shared/shared-state.ts';

export interface BackendShare {
  readonly origin: string;
  /** Requests the balancer sent there (the slot's `started` counter in shared state). */
  readonly requests: number;
  readonly share: number;
  /** What exact round robin gives after this many picks from a fresh counter. */
  readonly expected: number;
  readonly deviation: number;
  /** Responses the load generator got with this backend's `x-backend` name (null: the
   * backend does not send one). */
  readonly answered: number | null;
}

export interface ListenerShare {
  readonly listener: number;
  readonly connections: number;
  readonly requests: number;
  readonly share: number;
}

export interface Distribution {
  readonly total: number;
  readonly backends: readonly BackendShare[];
  readonly listeners: readonly ListenerShare[];
  /** Every backend got exactly its round-robin count. */
  readonly exact: boolean;
  /** The backends' own counts agree with the balancer's (when they name themselves). */
  readonly confirmedByBackends: boolean | null;
}

/**
 * Round robin from a fresh counter: after `total` picks over `n` backends, backend `b`
 * has `floor(total / n)` plus one more if `b < total % n`. Anything else, even one
 * request, means a ticket was lost or repeated.
 */
export function expectedRoundRobin(total: number, n: number, b: number): number {
  return Math.floor(total / n) + (b < total % n ? 1 : 0);
}

export function distribution(
  origins: readonly string[],
  backends: readonly SlotSnapshot[],
  listeners: readonly ListenerSnapshot[],
  answeredByName: Readonly<Record<string, number>>,
): Distribution {
  const total = backends.reduce((sum, b) => sum + b.started, 0);
  const requestsAtListeners = listeners.reduce((sum, l) => sum + l.requests, 0);
  const named = Object.keys(answeredByName).length > 0;
  const rows = backends.map((b, i): BackendShare => {
    const origin = origins[i] ?? `backend ${i}`;
    const expected = expectedRoundRobin(total, backends.length, i);
    // The embedded backend names itself by its port.
    const answered = named ? (answeredByName[new URL(origin).port] ?? 0) : null;
    return { origin, requests: b.started, share: b.started / Math.max(1, total), expected, deviation: b.started - expected, answered };
  });
  return {
    total,
    backends: rows,
    listeners: listeners.map((l, listener) => ({ listener, ...l, share: l.requests / Math.max(1, requestsAtListeners) })),
    exact: rows.every((row) => row.deviation === 0),
    confirmedByBackends: named ? rows.every((row) => row.answered === row.requests) : null,
  };
}
