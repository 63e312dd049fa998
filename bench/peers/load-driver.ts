/**
 * @module The load generator of the peers section, the same for every contender: wrk
 * when it is installed (the tool nginx and HAProxy are usually measured with, and it
 * runs outside the bench's own process), else the bench's own generator
 * (load/generator.ts). Either way: a warm-up, then a measured run bracketed by the
 * caller's readings (CPU of the contender's process tree, kernel counters).
 */
import type { Cleanup } from '../cleanup.ts';
import { LoadGenerator } from '../load/generator.ts';
import type { LoadFigures, SocketErrors } from './load-figures.ts';
import { runWrk } from './wrk.ts';

export interface DriveOptions<S> {
  /** `http://127.0.0.1:PORT`; every request is a GET of `/`. */
  readonly origin: string;
  readonly connections: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  /** Read right before and right after the measured run. */
  readonly snapshot: () => S;
}

export interface Driven<S> {
  readonly figures: LoadFigures;
  readonly before: S;
  readonly after: S;
}

export interface LoadDriver {
  /** How it is described in the report. */
  readonly description: string;
  drive<S>(options: DriveOptions<S>): Promise<Driven<S>>;
  close(): Promise<void>;
}

export function wrkDriver(binary: string, cleanup: Cleanup): LoadDriver {
  // wrk takes whole seconds.
  const seconds = (ms: number): number => Math.max(1, Math.round(ms / 1000));
  return {
    description: `wrk (${binary}), 2 threads, --timeout 5s; durations rounded to whole seconds`,
    async drive({ origin, connections, warmupMs, measureMs, snapshot }) {
      const url = `${origin}/`;
      await runWrk({ binary, url, connections, seconds: seconds(warmupMs), cleanup });
      const before = snapshot();
      const figures = await runWrk({ binary, url, connections, seconds: seconds(measureMs), cleanup });
      const after = snapshot();
      return { figures, before, after };
    },
    close: () => Promise.resolve(),
  };
}

/** The bench's own generator: a pool of load threads in this process, one pool per
 * connection count (a pool's connections are fixed when it starts). */
export function builtinDriver(loadThreads: number, cleanup: Cleanup): LoadDriver {
  const generators = new Map<number, LoadGenerator>();
  const stop = cleanup.defer('peers load generator', async () => {
    await Promise.all([...generators.values()].map((generator) => generator.close()));
  });
  return {
    description: `the bench's own load generator (wrk is not installed), ${loadThreads} load thread${loadThreads === 1 ? '' : 's'}`,
    async drive({ origin, connections, warmupMs, measureMs, snapshot }) {
      let generator = generators.get(connections);
      if (!generator) {
        generator = new LoadGenerator({ threads: Math.min(loadThreads, connections), connections });
        generators.set(connections, generator);
      }
      const run = await generator.run({ origin, warmupMs, measureMs, snapshot: () => Promise.resolve(snapshot()) });
      const { socketErrors, badStatus } = classify(run.errors);
      return {
        figures: {
          requests: run.requests,
          seconds: run.seconds,
          requestsPerSecond: run.requestsPerSecond,
          p50Ms: run.latencyMs.p50,
          p99Ms: run.latencyMs.p99,
          socketErrors,
          badStatus,
        },
        before: run.before,
        after: run.after,
      };
    },
    close: stop,
  };
}

/** The generator's error counts (warm-up included) in wrk's classes: `HTTP nnn` is a
 * bad status, a timeout code a timeout, a refused or timed-out connect a connect error,
 * anything else a read error (the connection failed under a request). */
function classify(errors: Readonly<Record<string, number>>): { socketErrors: SocketErrors; badStatus: number } {
  const counts = { connect: 0, read: 0, write: 0, timeout: 0 };
  let badStatus = 0;
  for (const [cause, n] of Object.entries(errors)) {
    if (cause.startsWith('HTTP ')) badStatus += n;
    else if (cause === 'ECONNREFUSED' || cause === 'UND_ERR_CONNECT_TIMEOUT') counts.connect += n;
    else if (/TIMEOUT/i.test(cause)) counts.timeout += n;
    else counts.read += n;
  }
  return { socketErrors: counts, badStatus };
}
