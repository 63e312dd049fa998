/**
 * @module `select(context)`: the one place where a request meets the backends. In order:
 * a valid sticky cookie's backend while it is eligible; else, when an ejection has run
 * out and active checks are off, the one trial request (won by a single
 * `compareExchange`, so one thread sends it, not one per thread); else the algorithm,
 * among the eligible backends this request has not tried, or any eligible one when it
 * has tried them all. Slow start thins a ramping backend's share here too, for every
 * algorithm alike: a pick of it is kept with probability equal to its weight factor
 * (10% rising linearly to 100% over --slow-start), otherwise the algorithm picks again
 * without it.
 */
import { between, now, stamp } from '../shared/clock.ts';
import { EJECTION } from '../shared/layout.ts';
import type { SharedState } from '../shared/shared-state.ts';
import type { Algorithm, Candidates, RequestContext } from './algorithms/algorithm.ts';
import type { RoutingView } from './routing-view.ts';
import { rampFactor } from './slow-start.ts';

/** A request as the selector sees it: the algorithm's context plus the sticky pin. */
export interface RouteRequest extends RequestContext {
  /** The slot a valid sticky cookie names, or -1. */
  pinned: number;
}

export interface SelectorOptions {
  /** This listener thread's index (recorded as the trial's owner). */
  readonly listener: number;
  /** Whether an expired ejection ends with one trial request (active checks off). */
  readonly trials: boolean;
  /** --slow-start in ms; 0 = off. */
  readonly slowStartMs: number;
}

/** How often slow start lets the algorithm pick again before taking what it got. */
const SLOW_START_REDRAWS = 3;

export class Selector implements Candidates {
  readonly state: SharedState;
  readonly #view: RoutingView;
  readonly #algorithm: Algorithm;
  readonly #options: SelectorOptions;
  #context: RouteRequest | null = null;
  #ignoreTried = false;
  readonly #skipped: number[] = [];
  #eligibleSlots: number[] | null = null;
  readonly #unsubscribe: () => void;
  /** Whether the last `select` returned a trial request. */
  trial = false;

  constructor(state: SharedState, view: RoutingView, algorithm: Algorithm, options: SelectorOptions) {
    this.state = state;
    this.#view = view;
    this.#algorithm = algorithm;
    this.#options = options;
    this.#unsubscribe = view.onMembership((members) => algorithm.build(members));
  }

  /** Stops following membership (replaced by a reload's selector). */
  dispose(): void {
    this.#unsubscribe();
  }

  /** A slot for this request, or -1 when no backend is eligible. Sets `trial`. */
  select(context: RouteRequest): number {
    const view = this.#view;
    view.refresh();
    context.now = now();
    this.trial = false;
    this.#context = context;
    this.#ignoreTried = false;
    this.#skipped.length = 0;
    this.#eligibleSlots = null;

    if (context.pinned >= 0 && this.isEligible(context.pinned)) return context.pinned;
    if (this.#options.trials && view.ejectedList.length > 0) {
      const slot = this.#claimTrial(context);
      if (slot >= 0) {
        this.trial = true;
        return slot;
      }
    }
    let slot = this.#pick(context);
    if (slot < 0 && context.tried.length > 0) {
      this.#ignoreTried = true;
      this.#eligibleSlots = null;
      slot = this.#pick(context);
    }
    return slot;
  }

  isEligible(slot: number): boolean {
    return (
      this.#view.eligible[slot] === 1 &&
      (this.#ignoreTried || !(this.#context as RouteRequest).tried.includes(slot)) &&
      (this.#skipped.length === 0 || !this.#skipped.includes(slot))
    );
  }

  eligibleSlots(): readonly number[] {
    this.#eligibleSlots ??= this.#view.eligibleList.filter((slot) => this.isEligible(slot));
    return this.#eligibleSlots;
  }

  weight(slot: number): number {
    return this.#view.weights[slot] ?? 0;
  }

  /** Seconds a client should wait before trying again when nothing is eligible. */
  retryAfterSeconds(healthRetryMs: number): number {
    const at = stamp(now());
    let soonest = Infinity;
    for (const slot of this.#view.ejectedList) soonest = Math.min(soonest, between(at, this.state.load(slot, 'ejectedUntil')));
    const ms = Number.isFinite(soonest) ? soonest : healthRetryMs;
    return Math.max(1, Math.ceil(ms / 1000));
  }

  /** One line on why no backend is eligible, for the 503 body. */
  describeUnavailable(): string {
    const state = this.state;
    const counts = { ejected: 0, down: 0, draining: 0, disabled: 0 };
    for (const member of this.#view.members) {
      if (member.state !== 'active') counts[member.state]++;
      else if (state.load(member.slot, 'healthy') !== 1) counts.down++;
      else if (state.load(member.slot, 'ejection') !== EJECTION.in) counts.ejected++;
    }
    const total = this.#view.members.length;
    if (total === 0) return 'no backend is configured';
    const parts = [
      counts.down > 0 ? `${counts.down} marked down by health checks` : '',
      counts.ejected > 0 ? `${counts.ejected} ejected` : '',
      counts.draining > 0 ? `${counts.draining} draining` : '',
      counts.disabled > 0 ? `${counts.disabled} disabled` : '',
    ].filter(Boolean);
    return `no backend is available: of ${total}, ${parts.join(', ') || 'none is eligible'}`;
  }

  #pick(context: RouteRequest): number {
    const slowStartMs = this.#options.slowStartMs;
    let slot = this.#algorithm.select(this, context);
    if (slowStartMs === 0) return slot;
    let declined = -1;
    for (let redraw = 0; slot >= 0 && redraw < SLOW_START_REDRAWS; redraw++) {
      if (this.#view.ramping[slot] !== 1) return slot;
      const factor = rampFactor(this.#view.rampFrom[slot] ?? 0, context.now, slowStartMs);
      // The ramp is over: end it for every thread (one of them wins the swap).
      if (factor >= 1 && this.state.cas(slot, 'ramping', 1, 0) === 1) this.state.publish();
      if (factor >= 1 || Math.random() < factor) return slot;
      declined = slot;
      this.#skipped.push(slot);
      this.#eligibleSlots = null;
      slot = this.#algorithm.select(this, context);
    }
    return slot >= 0 ? slot : declined;
  }

  /** The first expired ejection whose trial this thread wins, or -1. */
  #claimTrial(context: RouteRequest): number {
    const at = stamp(context.now);
    for (const slot of this.#view.ejectedList) {
      if (context.tried.includes(slot)) continue;
      if (between(this.state.load(slot, 'ejectedUntil'), at) < 0) continue;
      if (this.state.cas(slot, 'ejection', EJECTION.ejected, EJECTION.trial) !== EJECTION.ejected) continue;
      this.state.store(slot, 'trialOwner', this.#options.listener + 1);
      this.state.bump(slot, 'trials');
      this.state.publish();
      return slot;
    }
    return -1;
  }
}
