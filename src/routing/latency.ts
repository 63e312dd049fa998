/**
 * @module Peak-EWMA latency per backend, in shared memory, so every listener thread
 * learns from every response (Finagle's and Linkerd's load metric). A sample above the
 * current value replaces it at once (the peak); a lower one is blended in with weight
 * 1 - e^(-dt/τ), dt being the time since the previous sample. Read for a pick, the value
 * decays with the time since its last sample, so a backend that was slow once and then
 * left alone is tried again rather than shunned for ever.
 */
import { between, stamp } from '../shared/clock.ts';
import type { SharedState } from '../shared/shared-state.ts';

/** τ: how fast old samples fade (Linkerd's default decay). */
export const DECAY_MS = 10_000;
const MAX_MICROS = 2 ** 31 - 1;
/** Attempts to publish a sample against concurrent writers before giving it up. */
const CAS_ATTEMPTS = 8;

/** Records a time to response headers of `micros` for `slot`, observed at `at` (clock.now()). */
export function recordLatency(state: SharedState, slot: number, micros: number, at: number): void {
  const sample = Math.max(1, Math.min(MAX_MICROS, Math.round(micros)));
  const when = stamp(at);
  for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
    const current = state.load(slot, 'ewmaMicros');
    let next = sample;
    if (current !== 0 && sample < current) {
      const keep = Math.exp(-Math.max(0, between(state.load(slot, 'ewmaStamp'), when)) / DECAY_MS);
      next = Math.max(1, Math.round(current * keep + sample * (1 - keep)));
    }
    if (state.cas(slot, 'ewmaMicros', current, next) === current) {
      state.store(slot, 'ewmaStamp', when);
      return;
    }
  }
}

/** The latency estimate of `slot` at `at`, decayed since its last sample; 0 = no sample yet. */
export function latencyEstimate(state: SharedState, slot: number, at: number): number {
  const current = state.load(slot, 'ewmaMicros');
  if (current === 0) return 0;
  const idle = between(state.load(slot, 'ewmaStamp'), stamp(at));
  return idle <= 0 ? current : current * Math.exp(-idle / DECAY_MS);
}
