/**
 * @module The backends the load section drives: switchyard's own embedded backend
 * (src/backend/backend-thread.ts), each in a worker thread of the bench process and
 * supervised by the project's SupervisedThread, or external services given by URL.
 */
import { SupervisedThread } from '../../src/supervisor/supervised-thread.ts';
import type { BackendThreadData } from '../../src/supervisor/messages.ts';

const BACKEND_ENTRY = new URL('../../src/backend/backend-thread.ts', import.meta.url);
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
  const threads = Array.from(
    { length: count },
    (_, i) =>
      new SupervisedThread({
        label: `backend ${i}`,
        entry: BACKEND_ENTRY,
        workerData: (): BackendThreadData => ({ host: HOST, port: 0 }),
        log,
      }),
  );
  const stop = async (): Promise<void> => {
    await Promise.all(threads.map((thread) => thread.stop(1_000)));
  };
  try {
    const ports = await Promise.all(threads.map((thread) => thread.start()));
    return {
      origins: ports.map((port) => `http://${HOST}:${port}`),
      embedded: true,
      async cpuMicros() {
        const usage = await Promise.all(threads.map((thread) => thread.cpuUsage()));
        return usage.map((u) => (u ? u.userMicros + u.systemMicros : 0));
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

export function externalBackends(origins: readonly string[]): Backends {
  return {
    origins,
    embedded: false,
    cpuMicros: () => Promise.resolve(null),
    stop: () => Promise.resolve(),
  };
}
