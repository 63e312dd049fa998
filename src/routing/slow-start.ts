/**
 * @module Slow start (--slow-start): a backend that rejoins, is added at run time or is
 * enabled again takes a share that rises linearly from 10% to 100% of its weight's over
 * the ramp. Whoever makes it rejoin (a listener after a trial, the health checker, the
 * backend table) starts the ramp here; the selector reads the factor at each pick.
 */
import { between, now, stamp } from '../shared/clock.ts';
import type { SharedState } from '../shared/shared-state.ts';

const FLOOR = 0.1;

/** Records that `slot` rejoins now, and starts its ramp when slow start is on. */
export function startRamp(state: SharedState, slot: number, slowStartMs: number): void {
  state.store(slot, 'rejoinedAt', stamp(now()));
  if (slowStartMs > 0) state.store(slot, 'ramping', 1);
}

/** The share factor at `at` (clock.now()) of a ramp that began at stamp `from`; 1 once it is over. */
export function rampFactor(from: number, at: number, slowStartMs: number): number {
  const elapsed = between(from, stamp(at));
  if (elapsed >= slowStartMs || elapsed < 0) return 1;
  return FLOOR + ((1 - FLOOR) * elapsed) / slowStartMs;
}

/** The tail of a log line about a rejoin: `; slow start over 30s`, or nothing. */
export function slowStartNote(slowStartMs: number): string {
  return slowStartMs > 0 ? `; slow start over ${slowStartMs / 1000}s` : '';
}
