/**
 * @module The counters an operator reads (admin/metrics.ts), bumped by whichever
 * listener thread saw the outcome: one set in shared memory for every thread, so a
 * scrape reads exact totals rather than a merge of per-thread copies.
 */
import { errorCodeIndex, type ErrorCode } from '../errors.ts';
import { LATENCY_BOUNDS_MICROS } from '../shared/layout.ts';
import type { SharedState } from '../shared/shared-state.ts';

/** The histogram cell of a time to response headers (layout.ts, slot `latency`). */
export function latencyCell(micros: number): number {
  let cell = 0;
  while (cell < LATENCY_BOUNDS_MICROS.length && micros > (LATENCY_BOUNDS_MICROS[cell] as number)) cell++;
  return cell;
}

/** A backend's response head arrived after `micros`: its status class and its latency. */
export function recordResponse(state: SharedState, slot: number, status: number, micros: number): void {
  const whole = Math.max(0, Math.round(micros));
  state.bump(slot, 'responses', Math.min(4, Math.max(0, Math.floor(status / 100) - 1)));
  state.bump(slot, 'latency', latencyCell(whole));
  state.addCount(slot, 'latencyMicros', whole);
}

/** The balancer answered a request itself (or, for 499, the client left before any answer). */
export function recordOwnResponse(state: SharedState, code: ErrorCode): void {
  state.headerBump('answered', errorCodeIndex(code));
}
