/**
 * @module Passive health: listener threads record the outcome of real traffic in the
 * slot table, and the thread whose failure reaches --eject-after ejects the backend on
 * the spot. The decision is made once: a `compareExchange` on the shared count of
 * ejected backends reserves a place under the --max-ejected bound (never the last
 * eligible backend), and a `compareExchange` on the slot moves it from `in` to
 * `ejected`; only one thread wins each. The ejection is then published (routing epoch),
 * so no thread picks the backend again from its next pick on.
 *
 * The trial that ends an ejection (routing/selector.ts claims it) ends here too: a
 * success makes the backend rejoin (with slow start), a failure ejects it again for
 * twice as long, up to 5 minutes. The doubling starts over once a backend has served,
 * without being ejected, for as long as its last ejection lasted.
 */
import { between, now, stamp } from '../shared/clock.ts';
import { EJECTION, SLOT_STATE, failureReasonIndex, type FailureReason } from '../shared/layout.ts';
import type { SharedState } from '../shared/shared-state.ts';
import { startRamp } from './slow-start.ts';

export const MAX_EJECTION_MS = 5 * 60_000;

/** How long an ejection at `level` lasts: --eject-time doubled `level` times, at most 5 minutes. */
export function ejectionLength(ejectTimeMs: number, level: number): number {
  return Math.min(ejectTimeMs * 2 ** Math.max(0, level), MAX_EJECTION_MS);
}

export interface PassiveHealthOptions {
  /** Consecutive failures that eject (--eject-after); 0 = never eject. */
  readonly ejectAfter: number;
  /** First ejection length (--eject-time). */
  readonly ejectTimeMs: number;
  /** Share of active backends that may be ejected at once, percent (--max-ejected). */
  readonly maxEjectedPercent: number;
  /** --slow-start in ms; 0 = off. */
  readonly slowStartMs: number;
}

export class PassiveHealth {
  readonly #state: SharedState;
  readonly #options: PassiveHealthOptions;

  constructor(state: SharedState, options: PassiveHealthOptions) {
    this.#state = state;
    this.#options = options;
  }

  /** The backend answered (response headers arrived and, with --eject-on-5xx, not a 5xx). */
  succeeded(slot: number, trial: boolean): void {
    const state = this.#state;
    if (state.load(slot, 'consecutiveFailures') !== 0) state.store(slot, 'consecutiveFailures', 0);
    if (trial) this.#rejoin(slot);
  }

  /** The backend failed this attempt, for `reason` (upstream-errors.ts failureReason). */
  failed(slot: number, reason: FailureReason, trial: boolean): void {
    const state = this.#state;
    const reasonIndex = failureReasonIndex(reason);
    state.bump(slot, 'failures');
    state.bump(slot, 'failuresBy', reasonIndex);
    state.store(slot, 'lastFailure', reasonIndex);
    const consecutive = state.add(slot, 'consecutiveFailures', 1) + 1;
    if (trial) return this.#ejectAgain(slot);
    const { ejectAfter } = this.#options;
    if (ejectAfter > 0 && consecutive >= ejectAfter && state.load(slot, 'ejection') === EJECTION.in) this.#eject(slot);
  }

  /** The trial request ended without a verdict (the client left): the next request tries. */
  abandoned(slot: number, trial: boolean): void {
    if (!trial) return;
    const state = this.#state;
    state.store(slot, 'trialOwner', 0);
    if (state.cas(slot, 'ejection', EJECTION.trial, EJECTION.ejected) === EJECTION.trial) state.publish();
  }

  #eject(slot: number): void {
    const state = this.#state;
    if (!this.#reservePlace()) {
      state.headerBump('ejectionsRefused');
      return;
    }
    const at = now();
    const rejoinedAt = state.load(slot, 'rejoinedAt');
    const lastLength = state.load(slot, 'ejectedForMs');
    // A backend ejected again soon after it rejoined is flapping: keep it out longer.
    const level = lastLength > 0 && between(rejoinedAt, stamp(at)) < lastLength ? state.load(slot, 'ejectionLevel') + 1 : 0;
    this.#setEjection(slot, level, at);
    if (state.cas(slot, 'ejection', EJECTION.in, EJECTION.ejected) !== EJECTION.in) {
      // Another thread ejected it first; give back the place reserved.
      state.headerAdd('ejected', -1);
      return;
    }
    state.bump(slot, 'ejections');
    state.publish();
  }

  #ejectAgain(slot: number): void {
    const state = this.#state;
    this.#setEjection(slot, state.load(slot, 'ejectionLevel') + 1, now());
    state.store(slot, 'trialOwner', 0);
    if (state.cas(slot, 'ejection', EJECTION.trial, EJECTION.ejected) !== EJECTION.trial) return;
    state.bump(slot, 'ejections');
    state.publish();
  }

  #rejoin(slot: number): void {
    const state = this.#state;
    state.store(slot, 'trialOwner', 0);
    startRamp(state, slot, this.#options.slowStartMs);
    if (state.cas(slot, 'ejection', EJECTION.trial, EJECTION.in) !== EJECTION.trial) return;
    state.headerAdd('ejected', -1);
    state.publish();
  }

  #setEjection(slot: number, level: number, at: number): void {
    const state = this.#state;
    const capped = Math.min(level, 20);
    const length = ejectionLength(this.#options.ejectTimeMs, capped);
    state.store(slot, 'ejectionLevel', capped);
    state.store(slot, 'ejectedForMs', length);
    state.store(slot, 'ejectedUntil', stamp(at + length));
  }

  /**
   * Takes one place in the shared count of ejected backends, if the bound allows: at
   * most --max-ejected of the active backends, and never so many that no healthy one is
   * left in. Every ejection goes through this one counter, so two threads ejecting two
   * different backends at once cannot both take the last place.
   */
  #reservePlace(): boolean {
    const state = this.#state;
    let active = 0;
    let healthy = 0;
    // Backends out of rotation (draining, disabled) that are still marked ejected hold no
    // place: the bound is a share of the active backends.
    let idleEjected = 0;
    for (let slot = 0; slot < state.capacity; slot++) {
      const code = state.load(slot, 'state');
      if (code !== SLOT_STATE.active) {
        if (code !== SLOT_STATE.empty && state.load(slot, 'ejection') !== EJECTION.in) idleEjected++;
        continue;
      }
      active++;
      if (state.load(slot, 'healthy') === 1) healthy++;
    }
    const bound = Math.min(Math.floor((active * this.#options.maxEjectedPercent) / 100), healthy - 1);
    for (;;) {
      const ejected = state.header('ejected');
      if (ejected - idleEjected + 1 > bound) return false;
      if (state.headerCas('ejected', ejected, ejected + 1) === ejected) return true;
    }
  }
}
