/**
 * @module Inside one load-generator thread (a piscina task): a closed loop of small
 * keep-alive GETs over `connections` concurrent connections to one origin, until the
 * main thread sets the phase to STOP. Latency is recorded only in the MEASURE phase;
 * responses, errors and the `x-backend` header of each answer are counted throughout.
 */
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';
import { Pool, type Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import { LoadControl, Phase } from './control.ts';

const REQUEST_TIMEOUT_MS = 10_000;

export interface LoadTask {
  readonly control: SharedArrayBuffer;
  /** This thread's line in the control block. */
  readonly thread: number;
  readonly origin: string;
  /** Requests go to `/item/0` .. `/item/{paths - 1}` in turn; 0: every request is for `/`. */
  readonly paths: number;
  readonly connections: number;
}

export interface LoadThreadResult {
  /** Response times in the MEASURE phase, in nanoseconds. */
  readonly latency: RecordableHistogram;
  /** Answers per `x-backend` header value, over the whole run (warm-up included). */
  readonly byBackend: Record<string, number>;
  /** Failures by cause (`HTTP 502`, `ECONNRESET`, ...), over the whole run. */
  readonly errors: Record<string, number>;
  /** This thread's own CPU time and wall time between seeing MEASURE and seeing STOP. */
  readonly measureCpuMicros: number;
  readonly measureWallMs: number;
}

/** One virtual user: a request, then the next as soon as its answer is complete. The
 * handler object is reused across requests so the generator itself allocates little. */
class ClosedLoopUser implements Dispatcher.DispatchHandler {
  status = 0;
  backend: string | undefined;
  error: Error | null = null;
  #done: () => void = () => {};

  send(pool: Pool, options: Dispatcher.DispatchOptions): Promise<void> {
    this.status = 0;
    this.backend = undefined;
    this.error = null;
    return new Promise<void>((resolve) => {
      this.#done = resolve;
      pool.dispatch(options, this);
    });
  }

  onRequestStart(): void {}

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.status = statusCode;
    const backend = headers['x-backend'];
    this.backend = typeof backend === 'string' ? backend : undefined;
  }

  onResponseData(): void {}

  onResponseEnd(): void {
    this.#done();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.error = error;
    this.#done();
  }
}

export default async function generateLoad(task: LoadTask): Promise<LoadThreadResult> {
  const control = new LoadControl(task.control);
  // The timeouts turn a request the target never answers into an error instead of a
  // load thread (and the whole bench) waiting forever.
  const pool = new Pool(task.origin, {
    connections: task.connections,
    pipelining: 1,
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: REQUEST_TIMEOUT_MS,
  });
  const paths = task.paths > 0 ? Array.from({ length: task.paths }, (_, i) => `/item/${i}`) : ['/'];
  let nextPath = task.thread;
  const latency = createHistogram();
  const byBackend: Record<string, number> = {};
  const errors: Record<string, number> = {};
  let measureCpuStart = 0;
  let measureWallStart = 0;
  let measureCpuMicros = 0;
  let measureWallMs = 0;
  let seen: Phase = Phase.WARMUP;

  const notePhase = (phase: Phase): void => {
    if (phase === seen) return;
    const { user, system } = process.threadCpuUsage();
    if (phase === Phase.MEASURE) {
      measureCpuStart = user + system;
      measureWallStart = performance.now();
    } else if (seen === Phase.MEASURE) {
      measureCpuMicros = user + system - measureCpuStart;
      measureWallMs = performance.now() - measureWallStart;
    }
    seen = phase;
  };

  const user = async (): Promise<void> => {
    const me = new ClosedLoopUser();
    // One options object per user: it is reused only once its request has ended.
    const options: Dispatcher.DispatchOptions = { origin: task.origin, path: '/', method: 'GET' };
    for (let phase = control.phase; phase !== Phase.STOP; phase = control.phase) {
      notePhase(phase);
      options.path = paths[nextPath++ % paths.length] as string;
      const started = performance.now();
      await me.send(pool, options);
      const failed = me.error !== null || me.status < 200 || me.status >= 300;
      control.countResponse(task.thread, failed);
      if (failed) {
        const cause = me.error ? ((me.error as { code?: string }).code ?? me.error.name) : `HTTP ${me.status}`;
        errors[cause] = (errors[cause] ?? 0) + 1;
      } else if (me.backend !== undefined) {
        byBackend[me.backend] = (byBackend[me.backend] ?? 0) + 1;
      }
      if (control.phase === Phase.MEASURE) latency.record(Math.max(1, Math.round((performance.now() - started) * 1e6)));
    }
    notePhase(Phase.STOP);
  };

  try {
    await Promise.all(Array.from({ length: task.connections }, user));
  } finally {
    await pool.close();
  }
  return { latency, byBackend, errors, measureCpuMicros, measureWallMs };
}
