/**
 * @module One log line per change of a backend's passive health, whichever thread made
 * it. Listener threads eject, claim trials and rejoin with atomic operations and then
 * publish the routing epoch; the main thread waits on that epoch with
 * `Atomics.waitAsync` (it never blocks, and no listener sends a message), wakes when it
 * moves, and compares each slot with what it saw last. Counters in the slot (ejections)
 * make sure a change that came and went between two wake-ups is still reported.
 */
import { EJECTION, FAILURE_REASONS, SLOT_STATE } from '../shared/layout.ts';
import type { SharedState } from '../shared/shared-state.ts';
import { ejectionLength } from '../routing/passive-health.ts';
import { slowStartNote } from '../routing/slow-start.ts';

interface Seen {
  readonly origin: string;
  readonly incarnation: number;
  readonly ejection: number;
  readonly ejections: number;
  readonly trials: number;
}

export interface EventLogOptions {
  readonly log: (line: string) => void;
  /** Whether active checks decide rejoins (the wording of the rejoin line). */
  readonly activeChecks: boolean;
  /** --eject-time: the length of a first ejection, from which later ones double. */
  readonly ejectTimeMs: number;
  readonly slowStartMs: number;
}

export class EventLog {
  readonly #state: SharedState;
  readonly #options: EventLogOptions;
  readonly #seen = new Map<number, Seen>();
  #stopped = false;
  #done: Promise<void> = Promise.resolve();

  constructor(state: SharedState, options: EventLogOptions) {
    this.#state = state;
    this.#options = options;
  }

  start(): void {
    this.#scan(false);
    this.#done = this.#watch();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#state.publish(); // wakes the waiter
    await this.#done;
    this.#scan(true);
  }

  async #watch(): Promise<void> {
    const { array, index } = this.#state.epochCell();
    while (!this.#stopped) {
      const epoch = Atomics.load(array, index);
      this.#scan(true);
      const wait = Atomics.waitAsync(array, index, epoch);
      if (wait.async) await wait.value;
    }
  }

  /** Compares every slot with what was seen last; `report` false only records. */
  #scan(report: boolean): void {
    const state = this.#state;
    for (let slot = 0; slot < state.capacity; slot++) {
      if (state.load(slot, 'state') === SLOT_STATE.empty) {
        this.#seen.delete(slot);
        continue;
      }
      const now: Seen = {
        origin: state.origin(slot),
        incarnation: state.load(slot, 'incarnation'),
        ejection: state.load(slot, 'ejection'),
        ejections: state.count(slot, 'ejections'),
        trials: state.count(slot, 'trials'),
      };
      const before = this.#seen.get(slot);
      this.#seen.set(slot, now);
      if (!report || before === undefined || before.incarnation !== now.incarnation || before.origin !== now.origin) continue;
      for (const line of this.#describe(slot, before, now)) this.#options.log(`backend ${now.origin}: ${line}`);
    }
  }

  /**
   * The lines for what happened between two looks. Passive health moves in one cycle,
   * in -> ejected -> trial -> (ejected | in), so the counts of ejections and trials since
   * the last look, and the state before and now, say what happened in order.
   */
  #describe(slot: number, before: Seen, now: Seen): string[] {
    const state = this.#state;
    const lines: string[] = [];
    const reason = FAILURE_REASONS[state.load(slot, 'lastFailure')] ?? 'other';
    const total = now.ejections - before.ejections;
    let ejections = total;
    // The slot keeps the level of its latest ejection only; each ejection of a flapping
    // backend is one level above the one before, so the k-th of n reported now had the
    // latest level minus (n - 1 - k).
    const level = state.load(slot, 'ejectionLevel');
    const lengthOf = (k: number): string => `${ejectionLength(this.#options.ejectTimeMs, level - (total - 1 - k)) / 1000}s`;
    const failedTrial = (): string => `trial request failed (${reason}); ejected again for ${lengthOf(total - ejections--)}`;
    let trials = now.trials - before.trials;
    if (ejections > 0 && before.ejection !== EJECTION.ejected) {
      lines.push(
        before.ejection === EJECTION.trial
          ? failedTrial()
          : `ejected after ${Math.max(1, state.load(slot, 'consecutiveFailures'))} consecutive failures (${reason}) for ${lengthOf(total - ejections--)}`,
      );
    }
    for (; trials > 0; trials--) {
      lines.push('ejection over; sending one trial request');
      if (ejections > 0) lines.push(failedTrial());
    }
    if (ejections > 0) lines.push(`ejected ${ejections} more time${ejections === 1 ? '' : 's'} since the last report`);
    const rejoined = now.ejection === EJECTION.in && (before.ejection !== EJECTION.in || now.ejections > before.ejections);
    if (rejoined) {
      const how = this.#options.activeChecks ? 'after passing health checks' : 'after a successful trial request';
      lines.push(`rejoined ${how}${slowStartNote(this.#options.slowStartMs)}`);
    }
    return lines;
  }
}
