/**
 * @module The main thread's side of the load generator: a piscina pool of load threads
 * (see generator-worker.ts) that all drive one origin, a warm-up, then a measured window
 * bracketed by the caller's snapshots (CPU of the balancer and of the backends).
 */
import { createHistogram } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Piscina } from 'piscina';
import { LoadControl, Phase } from './control.ts';
import type { LoadTask, LoadThreadResult } from './generator-worker.ts';

const WORKER = new URL('./generator-worker.ts', import.meta.url).href;
const TICK_MS = 250;

export interface LoadGeneratorOptions {
  /** Load threads (piscina worker threads). */
  readonly threads: number;
  /** Keep-alive connections over all load threads. */
  readonly connections: number;
}

export interface LoadPhases<S> {
  readonly origin: string;
  readonly warmupMs: number;
  /** The measured window's length; it ends earlier if `until` settles first. */
  readonly measureMs: number;
  readonly until?: Promise<unknown>;
  /** Requests go to `/item/0` .. `/item/{paths - 1}` in turn (keys for consistent
   * hashing by path); without it, every request is for `/`. */
  readonly paths?: number;
  /** Called at both ends of the measured window; what it returns comes back in the run. */
  readonly snapshot: () => Promise<S>;
  /** Live figures, about four times a second. */
  readonly onTick?: (tick: LoadTick) => void;
}

export interface LoadTick {
  readonly phase: 'warm-up' | 'measure';
  readonly elapsedMs: number;
  readonly phaseMs: number;
  readonly completed: number;
  readonly errors: number;
  /** Responses per second over the last tick. */
  readonly rate: number;
}

export interface LoadRun<S> {
  /** Responses completed inside the measured window. */
  readonly requests: number;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number; readonly mean: number };
  /** Every response of the run, warm-up included. */
  readonly totalResponses: number;
  readonly errors: Record<string, number>;
  readonly errorCount: number;
  readonly byBackend: Record<string, number>;
  /** CPU of the load threads in the measured window (as each thread saw it). */
  readonly generatorCpuMicros: number;
  readonly generatorCpuPerThreadMicros: readonly number[];
  readonly before: S;
  readonly after: S;
  /** `performance.now()` at both ends of the measured window. */
  readonly measureStartedAt: number;
  readonly measureEndedAt: number;
}

export class LoadGenerator {
  readonly threads: number;
  readonly connections: number;
  readonly #pool: Piscina<LoadTask, LoadThreadResult>;
  readonly #control: LoadControl;

  constructor({ threads, connections }: LoadGeneratorOptions) {
    if (connections < threads) throw new RangeError(`need at least one connection per load thread (${connections} < ${threads})`);
    this.threads = threads;
    this.connections = connections;
    // atomics: 'disabled': a load thread must never block its event loop between tasks.
    this.#pool = new Piscina({ filename: WORKER, minThreads: threads, maxThreads: threads, atomics: 'disabled', idleTimeout: 60_000 });
    this.#control = LoadControl.create(threads);
  }

  async run<S>(phases: LoadPhases<S>): Promise<LoadRun<S>> {
    const control = this.#control;
    control.reset();
    control.setPhase(Phase.WARMUP);
    const tasks = Array.from({ length: this.threads }, (_, thread) =>
      this.#pool.run({
        control: control.buffer,
        thread,
        origin: phases.origin,
        paths: phases.paths ?? 0,
        connections: Math.floor(this.connections / this.threads) + (thread < this.connections % this.threads ? 1 : 0),
      }),
    );
    // A load thread that fails must end the run at once, not after the whole duration.
    let failure: unknown = null;
    const settled = Promise.all(tasks).catch((error: unknown) => {
      failure = error;
      control.setPhase(Phase.STOP);
      return null;
    });

    let before: S;
    let after: S;
    let c0: number;
    let c1: number;
    let t0: number;
    let t1: number;
    try {
      const started = performance.now();
      await this.#watch('warm-up', phases.warmupMs, started, phases.onTick, () => failure !== null);
      let ended = false;
      const end = (): void => {
        ended = true;
      };
      phases.until?.then(end, end);
      before = await phases.snapshot();
      c0 = control.totals().completed;
      control.setPhase(Phase.MEASURE);
      t0 = performance.now();
      await this.#watch('measure', phases.measureMs, started, phases.onTick, () => failure !== null || ended);
      c1 = control.totals().completed;
      t1 = performance.now();
      after = await phases.snapshot();
    } finally {
      // Also when a snapshot failed: the load threads must never be left running.
      control.setPhase(Phase.STOP);
    }

    const results = await settled;
    if (failure !== null || results === null) throw failure instanceof Error ? failure : new Error(String(failure));

    const latency = createHistogram();
    const errors: Record<string, number> = {};
    const byBackend: Record<string, number> = {};
    for (const result of results) {
      latency.add(result.latency);
      mergeCounts(errors, result.errors);
      mergeCounts(byBackend, result.byBackend);
    }
    const requests = c1 - c0;
    const seconds = (t1 - t0) / 1000;
    const ms = (ns: number): number => ns / 1e6;
    const totals = control.totals();
    return {
      requests,
      seconds,
      requestsPerSecond: requests / seconds,
      latencyMs: {
        p50: ms(latency.percentile(50)),
        p90: ms(latency.percentile(90)),
        p99: ms(latency.percentile(99)),
        max: ms(latency.max),
        mean: ms(latency.mean),
      },
      totalResponses: totals.completed,
      errors,
      errorCount: totals.errors,
      byBackend,
      generatorCpuMicros: results.reduce((sum, r) => sum + r.measureCpuMicros, 0),
      generatorCpuPerThreadMicros: results.map((r) => r.measureCpuMicros),
      before,
      after,
      measureStartedAt: t0,
      measureEndedAt: t1,
    };
  }

  async #watch(
    phase: LoadTick['phase'],
    durationMs: number,
    started: number,
    onTick: LoadPhases<unknown>['onTick'],
    failed: () => boolean,
  ): Promise<void> {
    const phaseStart = performance.now();
    let last = { at: phaseStart, completed: this.#control.totals().completed };
    for (;;) {
      const left = durationMs - (performance.now() - phaseStart);
      if (left <= 0 || failed()) return;
      await sleep(Math.min(TICK_MS, left));
      const now = performance.now();
      const { completed, errors } = this.#control.totals();
      onTick?.({
        phase,
        elapsedMs: now - started,
        phaseMs: now - phaseStart,
        completed,
        errors,
        rate: ((completed - last.completed) * 1000) / Math.max(1, now - last.at),
      });
      last = { at: now, completed };
    }
  }

  /** Stops any run still going and ends the load threads. */
  async close(): Promise<void> {
    this.#control.setPhase(Phase.STOP);
    await this.#pool.destroy();
  }
}

function mergeCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [key, n] of Object.entries(from)) into[key] = (into[key] ?? 0) + n;
}
