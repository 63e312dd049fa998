/**
 * @module Active health checks (--health-path): one probe per interval per backend,
 * from the main thread, however many listener threads there are. A probe is
 * `GET PATH` on a new connection, healthy on 2xx or 3xx within --health-timeout.
 * --health-fall failures in a row mark a backend down, --health-rise passes mark it up;
 * an ejection that has run out also ends after --health-rise passes. The verdicts go to
 * the slot table (`healthy`, `ejection`) and are published at once; listener threads
 * only read them.
 */
import { request, Agent } from 'undici';
import { DEFAULTS, type BackendTlsConfig, type HealthCheckConfig } from '../config/config.ts';
import { secureContext } from '../upstream/backend-tls.ts';
import { between, now, stamp } from '../shared/clock.ts';
import { EJECTION, SLOT_STATE } from '../shared/layout.ts';
import type { SharedState } from '../shared/shared-state.ts';
import { slowStartNote, startRamp } from '../routing/slow-start.ts';

interface ProbeRecord {
  readonly origin: string;
  fails: number;
  passes: number;
  /** Passes since the slot's ejection ran out (only those end it). */
  passesSinceExpiry: number;
  running: boolean;
}

export interface HealthCheckerOptions {
  readonly log: (line: string) => void;
  readonly slowStartMs: number;
  /** How https:// backends are verified: as the listeners do (backend-tls.ts); by default, verified. */
  readonly tls?: BackendTlsConfig;
}

/** What a probe found: null when healthy, else why not. */
type ProbeResult = string | null;

export class HealthChecker {
  readonly #state: SharedState;
  readonly #config: HealthCheckConfig;
  readonly #options: HealthCheckerOptions;
  readonly #records = new Map<number, ProbeRecord>();
  readonly #agent: Agent;
  readonly #running = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | null = null;

  constructor(state: SharedState, config: HealthCheckConfig, options: HealthCheckerOptions) {
    this.#state = state;
    this.#config = config;
    this.#options = options;
    // undici names the host for SNI and checks the certificate against it; the
    // authorities and the choice to verify are the listeners' own.
    const tls = options.tls ?? DEFAULTS.upstream.tls;
    this.#agent = new Agent({
      connections: 1,
      pipelining: 0,
      connect: { secureContext: secureContext(tls), rejectUnauthorized: !tls.insecure },
    });
  }

  start(): void {
    this.#tick();
    this.#timer = setInterval(() => this.#tick(), this.#config.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await Promise.allSettled(this.#running);
    await this.#agent.close();
  }

  /** Starts a probe of every filled slot that has none running. */
  #tick(): void {
    const state = this.#state;
    for (let slot = 0; slot < state.capacity; slot++) {
      if (state.load(slot, 'state') === SLOT_STATE.empty) {
        this.#records.delete(slot);
        continue;
      }
      const origin = state.origin(slot);
      let record = this.#records.get(slot);
      if (record?.origin !== origin) {
        record = { origin, fails: 0, passes: 0, passesSinceExpiry: 0, running: false };
        this.#records.set(slot, record);
      }
      if (record.running) continue;
      record.running = true;
      const probing = this.#probe(origin).then((result) => {
        record.running = false;
        if (this.#timer !== null && this.#records.get(slot) === record) this.#verdict(slot, record, result);
      });
      this.#running.add(probing);
      void probing.finally(() => this.#running.delete(probing));
    }
  }

  async #probe(origin: string): Promise<ProbeResult> {
    const { path, timeoutMs } = this.#config;
    try {
      const response = await request(`${origin}${path}`, {
        dispatcher: this.#agent,
        method: 'GET',
        // A new connection each time, as HAProxy does: a probe must also find out
        // whether the backend still accepts connections.
        reset: true,
        headers: { 'user-agent': 'switchyard-health-check' },
        signal: AbortSignal.timeout(timeoutMs),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      await response.body.dump();
      return response.statusCode >= 200 && response.statusCode < 400 ? null : `status ${response.statusCode}`;
    } catch (error) {
      const code = (error as { code?: unknown; name?: string }).code;
      if ((error as Error).name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return `no answer within ${timeoutMs}ms`;
      return typeof code === 'string' ? code : (error as Error).message;
    }
  }

  #verdict(slot: number, record: ProbeRecord, failure: ProbeResult): void {
    const state = this.#state;
    const { fall, rise } = this.#config;
    if (failure !== null) {
      record.fails++;
      record.passes = 0;
      record.passesSinceExpiry = 0;
      if (record.fails >= fall && state.load(slot, 'healthy') === 1) {
        state.store(slot, 'healthy', 0);
        state.publish();
        this.#options.log(`backend ${record.origin}: marked down after ${fall} failed health check${fall === 1 ? '' : 's'} (${failure})`);
      }
      return;
    }
    record.fails = 0;
    record.passes++;
    if (record.passes >= rise && state.load(slot, 'healthy') === 0) {
      startRamp(state, slot, this.#options.slowStartMs);
      state.store(slot, 'healthy', 1);
      state.publish();
      this.#options.log(`backend ${record.origin}: marked up after ${rise} passed health check${rise === 1 ? '' : 's'}${slowStartNote(this.#options.slowStartMs)}`);
    }
    if (state.load(slot, 'ejection') !== EJECTION.ejected || between(state.load(slot, 'ejectedUntil'), stamp(now())) < 0) {
      record.passesSinceExpiry = 0;
      return;
    }
    record.passesSinceExpiry++;
    if (record.passesSinceExpiry >= rise && state.cas(slot, 'ejection', EJECTION.ejected, EJECTION.in) === EJECTION.ejected) {
      record.passesSinceExpiry = 0;
      startRamp(state, slot, this.#options.slowStartMs);
      state.headerAdd('ejected', -1);
      state.publish(); // the event log reports the rejoin
    }
  }
}
