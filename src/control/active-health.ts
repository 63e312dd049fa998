/**
 * @module The active health checks over a config's life: a HealthChecker (one prober on
 * the main thread) built from the config in effect, started and stopped with the
 * balancer, and rebuilt when a reload changes what it probes with. Checks turned off by a
 * reload mark every backend up, since nothing else would.
 */
import type { Config } from '../config/config.ts';
import { SLOT_STATE } from '../shared/layout.ts';
import type { SharedState } from '../shared/shared-state.ts';
import { HealthChecker } from './health-checker.ts';

/** What the checker probes with: a change of it rebuilds the checker (--slow-start is
 * read at each rejoin instead, so a change of it alone keeps the probes' streaks). */
const probedWith = (config: Config): string => JSON.stringify([config.health, config.upstream.tls]);

export class ActiveHealth {
  readonly #state: SharedState;
  readonly #log: (line: string) => void;
  #config: Config;
  #checker: HealthChecker | null;

  constructor(state: SharedState, config: Config, log: (line: string) => void) {
    this.#state = state;
    this.#log = log;
    this.#config = config;
    this.#checker = this.#build(config);
  }

  start(): void {
    this.#checker?.start();
  }

  async stop(): Promise<void> {
    await this.#checker?.stop();
  }

  /** A reload: the checker follows `next` from now on. */
  async follow(next: Config): Promise<void> {
    const before = this.#config;
    this.#config = next;
    if (probedWith(before) === probedWith(next)) return;
    await this.#checker?.stop();
    this.#checker = this.#build(next);
    this.#checker?.start();
    if (this.#checker === null) this.#markAllUp();
  }

  #build(config: Config): HealthChecker | null {
    if (config.health === null) return null;
    const current = (): Config => this.#config;
    return new HealthChecker(this.#state, config.health, {
      log: this.#log,
      get slowStartMs() {
        return current().routing.slowStartMs;
      },
      tls: config.upstream.tls,
    });
  }

  /** Active checks turned off: nothing would ever mark a backend up again. */
  #markAllUp(): void {
    const state = this.#state;
    let changed = false;
    for (let slot = 0; slot < state.capacity; slot++) {
      if (state.load(slot, 'state') === SLOT_STATE.empty || state.load(slot, 'healthy') === 1) continue;
      state.store(slot, 'healthy', 1);
      changed = true;
      this.#log(`backend ${state.origin(slot)}: marked up: active health checks are off now`);
    }
    if (changed) state.publish();
  }
}
