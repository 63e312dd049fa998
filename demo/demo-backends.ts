/**
 * @module The demo that `npm start` runs when no --backend is given: N small HTTP
 * servers, each in its own worker thread, on port+1 .. port+N (ephemeral with --port 0),
 * supervised like the listeners (a backend thread that dies comes back on its port).
 * They are the tutorial's two backends made real; the balancer treats them as any
 * other backend.
 */
import { SupervisedThread } from '../src/supervisor/supervised-thread.ts';
import { hostForUrl } from '../src/supervisor/listen-address.ts';
import type { BackendThreadData } from './backend-thread.ts';

const BACKEND_ENTRY = new URL('./backend-thread.ts', import.meta.url);

export interface DemoBackends {
  /** Their origins, `http://host:port`, in order. */
  readonly origins: readonly string[];
  readonly threads: readonly SupervisedThread[];
  stop(): Promise<void>;
}

export interface DemoBackendOptions {
  readonly host: string;
  /** The balancer's port: backends take the next ones; 0 = ephemeral ports. */
  readonly port: number;
  readonly count: number;
  readonly log?: (line: string) => void;
}

export async function startDemoBackends({ host, port, count, log = () => {} }: DemoBackendOptions): Promise<DemoBackends> {
  const ports: number[] = [];
  const threads = Array.from({ length: count }, (_, i) => {
    const wanted = port === 0 ? 0 : port + 1 + i;
    return new SupervisedThread({
      label: wanted === 0 ? `backend ${i}` : `backend :${wanted}`,
      entry: BACKEND_ENTRY,
      // A restarted backend must come back on the port the balancer's slot names.
      workerData: (): BackendThreadData => ({ host, port: ports[i] ?? wanted }),
      log,
    });
  });
  const stop = async (): Promise<void> => {
    await Promise.all(threads.map((thread) => thread.stop(1_000)));
  };
  try {
    ports.push(...(await Promise.all(threads.map((thread) => thread.start()))));
  } catch (error) {
    await stop();
    throw error;
  }
  const origins = ports.map((bound) => `http://${hostForUrl(host)}:${bound}`);
  for (const origin of origins) log(`backend :${new URL(origin).port} serving at ${origin} (worker thread)`);
  return { origins, threads, stop };
}
