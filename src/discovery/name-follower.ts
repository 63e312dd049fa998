/**
 * @module One DNS name followed for backends: resolved at start, then again when its
 * records expire (their TTL, clamped to [1 s, 60 s]); each good answer becomes the name's
 * wanted set in BackendSources, which keeps, adds and drains backends in the slot table.
 *
 * When a resolution fails (no resolver answered, SERVFAIL, REFUSED) or comes back empty
 * (NXDOMAIN, no records), the last good set stays in use, and the name is asked again
 * after 1 s, 2 s, 4 s ... up to 60 s. One line is logged when the trouble starts, one
 * when it outlasts the stale window (--dns-stale-window, 5 minutes by default), one when
 * it ends: never one per retry. Past the stale window:
 * - a name that still fails keeps its last set (as nginx and HAProxy do): a DNS outage
 *   says nothing about the backends, and health checks and ejection still judge them;
 * - a name that DNS still answers as empty loses its backends (they drain): that answer
 *   is DNS saying there are none, for longer than a rollout's blip.
 */
import { now } from '../shared/clock.ts';
import type { DnsNameConfig } from '../config/config.ts';
import { spellDuration } from '../config/flag-values.ts';
import type { BackendSources } from '../control/backend-sources.ts';
import { DnsQueryError, type DnsClient } from './dns-client.ts';
import { lookup, type Lookup } from './dns-lookup.ts';

/** The clamp on re-resolution, seconds. */
export const MIN_TTL_SECONDS = 1;
export const MAX_TTL_SECONDS = 60;

export interface NameStatus {
  /** `dns:NAME:PORT` or `srv:NAME`. */
  readonly source: string;
  /** Unix time (ms) of the last resolution that gave backends; null before the first. */
  readonly lastSuccessAt: number | null;
  /** Backends the name gives now (the last good answer's, while a problem lasts). */
  readonly answers: number;
  /** Resolutions that failed or came back empty, since start. */
  readonly failures: number;
  /** True while the last resolution failed or was empty: the backends are the last good set. */
  readonly stale: boolean;
  /** What went wrong last, while `stale`. */
  readonly problem: string | null;
  /** Seconds until the next resolution, as last scheduled. */
  readonly nextInSeconds: number;
}

export interface NameFollowerOptions {
  readonly client: DnsClient;
  readonly sources: BackendSources;
  readonly staleMs: number;
  readonly log: (line: string) => void;
}

export class NameFollower {
  readonly spec: DnsNameConfig;
  readonly #options: NameFollowerOptions;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;
  #lastSuccessAt: number | null = null;
  /** now() of the last good answer, for the stale window. */
  #lastSuccessMono = 0;
  #answers = 0;
  #failures = 0;
  /** Failed or empty resolutions in a row. */
  #streak = 0;
  #problem: string | null = null;
  #staleLogged = false;
  #nextInSeconds = 0;
  /** True during a first resolution made before the listeners start. */
  #starting = false;

  constructor(spec: DnsNameConfig, options: NameFollowerOptions) {
    this.spec = spec;
    this.#options = options;
  }

  /** Resolves once now; the name is then followed until `stop`. `initial`: before the
   * listeners start, when backends found have nothing to ramp up from (slow start). */
  async start({ initial }: { initial: boolean }): Promise<void> {
    this.#starting = initial;
    try {
      await this.#resolve();
    } finally {
      this.#starting = false;
    }
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  status(): NameStatus {
    return {
      source: this.spec.source,
      lastSuccessAt: this.#lastSuccessAt,
      answers: this.#answers,
      failures: this.#failures,
      stale: this.#streak > 0,
      problem: this.#problem,
      nextInSeconds: this.#nextInSeconds,
    };
  }

  async #resolve(): Promise<void> {
    let result: Lookup | null = null;
    let problem: string;
    try {
      result = await lookup(this.#options.client, this.spec);
      problem = `${this.spec.kind === 'srv' ? 'no SRV records with an address' : 'no A or AAAA records'} for ${this.spec.name}`;
    } catch (error) {
      if (error instanceof DnsQueryError && error.code === 'CLOSED') return;
      problem = `resolution failed: ${error instanceof Error ? error.message : String(error)}`;
    }
    if (this.#stopped) return;
    if (result !== null && result.backends.length > 0) this.#succeeded(result);
    else this.#failed(problem, result !== null);
  }

  #succeeded({ backends, ttlSeconds }: Lookup): void {
    const { sources, log } = this.#options;
    const source = this.spec.source;
    if (this.#streak > 0 && this.#lastSuccessAt !== null) log(`${source}: resolves again after ${this.#streak} failed or empty attempt${this.#streak === 1 ? '' : 's'}`);
    const change = sources.sync(source, backends, { initial: this.#starting });
    if (change.added.length + change.removing.length > 0 && this.#lastSuccessAt !== null) {
      log(`${source}: ${backends.length} backend${backends.length === 1 ? '' : 's'} (added ${change.added.length}, removing ${change.removing.length})`);
    }
    this.#lastSuccessAt = Date.now();
    this.#lastSuccessMono = now();
    this.#answers = backends.length;
    this.#streak = 0;
    this.#problem = null;
    this.#staleLogged = false;
    this.#schedule(Math.min(MAX_TTL_SECONDS, Math.max(MIN_TTL_SECONDS, ttlSeconds ?? MIN_TTL_SECONDS)));
  }

  #failed(problem: string, empty: boolean): void {
    const { sources, log, staleMs } = this.#options;
    const source = this.spec.source;
    this.#failures++;
    this.#streak++;
    this.#problem = problem;
    const kept = this.#answers;
    if (this.#streak === 1) {
      log(
        kept > 0
          ? `${source}: ${problem}; keeping its last ${kept} backend${kept === 1 ? '' : 's'} for up to ${spellDuration(staleMs)}, retrying`
          : `${source}: ${problem}; no backends from it yet, retrying`,
      );
    }
    const expired = kept > 0 && this.#lastSuccessAt !== null && now() - this.#lastSuccessMono > staleMs;
    if (expired && empty) {
      sources.sync(source, []);
      this.#answers = 0;
      log(`${source}: still ${problem} ${spellDuration(staleMs)} after its last good answer; its ${kept} backend${kept === 1 ? '' : 's'} drain`);
    } else if (expired && !this.#staleLogged) {
      this.#staleLogged = true;
      log(`${source}: still failing ${spellDuration(staleMs)} after its last good answer; keeping its last ${kept} backend${kept === 1 ? '' : 's'} until DNS answers`);
    }
    this.#schedule(Math.min(MAX_TTL_SECONDS, 2 ** (this.#streak - 1)));
  }

  #schedule(seconds: number): void {
    if (this.#stopped) return;
    this.#nextInSeconds = seconds;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#resolve();
    }, seconds * 1000);
    // The balancer's servers keep the process alive; a pending re-resolution must not.
    this.#timer.unref();
  }
}
