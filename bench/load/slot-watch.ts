/**
 * @module Inside the balancer child: reports each change of a backend's passive health
 * (in, ejected, trial) the moment the main thread sees it, with a wall-clock time, so
 * that the bench can time an ejection and a rejoin against the moment it killed or
 * revived a backend. It waits on the routing epoch with `Atomics.waitAsync`, as the
 * balancer's own event log does (every ejection, trial and rejoin is published there),
 * and compares each slot with what it saw last; the slot's ejection counter shows an
 * ejection that came and went between two looks.
 */
import { EJECTION, SLOT_STATE } from '../../src/shared/layout.ts';
import type { SharedState } from '../../src/shared/shared-state.ts';
import type { SlotEventReport } from './balancer-messages.ts';

const NAMES = { [EJECTION.in]: 'in', [EJECTION.ejected]: 'ejected', [EJECTION.trial]: 'trial' } as const;

export class SlotWatch {
  readonly #state: SharedState;
  readonly #report: (event: SlotEventReport) => void;
  readonly #seen = new Map<number, { ejection: number; ejections: number }>();
  #stopped = false;

  constructor(state: SharedState, report: (event: SlotEventReport) => void) {
    this.#state = state;
    this.#report = report;
  }

  start(): void {
    this.#scan(false);
    void this.#watch();
  }

  stop(): void {
    this.#stopped = true;
  }

  async #watch(): Promise<void> {
    const { array, index } = this.#state.epochCell();
    while (!this.#stopped) {
      const epoch = Atomics.load(array, index);
      this.#scan(true);
      // A timeout so that stop() needs no publish to take effect.
      const wait = Atomics.waitAsync(array, index, epoch, 1_000);
      if (wait.async) await wait.value;
    }
  }

  #scan(report: boolean): void {
    const state = this.#state;
    const at = performance.timeOrigin + performance.now();
    for (let slot = 0; slot < state.capacity; slot++) {
      if (state.load(slot, 'state') === SLOT_STATE.empty) continue;
      const now = { ejection: state.load(slot, 'ejection'), ejections: state.count(slot, 'ejections') };
      const before = this.#seen.get(slot);
      this.#seen.set(slot, now);
      if (!report || (before && before.ejection === now.ejection && before.ejections === now.ejections)) continue;
      const ejection = NAMES[now.ejection as keyof typeof NAMES] ?? 'in';
      this.#report({ type: 'slot-event', at, origin: state.origin(slot), ejection, ejections: now.ejections });
    }
  }
}
