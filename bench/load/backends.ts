/**
 * @module The backends the load section drives: switchyard's demo backends
 * (demo/demo-backends.ts, each a worker thread of the bench process supervised by the
 * project's SupervisedThread), or external services given by URL.
 */
import { startDemoBackends } from '../../demo/demo-backends.ts';

const HOST = '127.0.0.1';

export interface Backends {
  readonly origins: readonly string[];
  /** Whether they run here, so that their CPU can be measured. */
  readonly embedded: boolean;
  /** CPU microseconds of each backend thread so far (null for external backends). */
  cpuMicros(): Promise<readonly number[] | null>;
  stop(): Promise<void>;
}

export async function startBackendThreads(count: number, log: (line: string) => void): Promise<Backends> {
  const demo = await startDemoBackends({ host: HOST, port: 0, count, log });
  return {
    origins: demo.origins,
    embedded: true,
    async cpuMicros() {
      const usage = await Promise.all(demo.threads.map((thread) => thread.cpuUsage()));
      return usage.map((u) => (u ? u.userMicros + u.systemMicros : 0));
    },
    stop: () => demo.stop(),
  };
}

export function externalBackends(origins: readonly string[]): Backends {
  return {
    origins,
    embedded: false,
    cpuMicros: () => Promise.resolve(null),
    stop: () => Promise.resolve(),
  };
}
