/**
 * @module The main thread's job: start the embedded backends (if any), create the shared
 * state, start the listener threads on one port, keep every thread alive, and run the
 * graceful shutdown. `startBalancer` is what `src/main.ts`, the tests and the bench use.
 */
import { createServer } from 'node:net';
import type { Config } from '../config/config.ts';
import { SharedState } from '../shared/layout.ts';
import type { BackendThreadData, ListenerThreadData } from './messages.ts';
import { SupervisedThread } from './supervised-thread.ts';

const BACKEND_ENTRY = new URL('../backend/backend-thread.ts', import.meta.url);
const LISTENER_ENTRY = new URL('../listener/listener-thread.ts', import.meta.url);
/**
 * A listener allocates a little short-lived garbage per request at a high rate, and V8
 * keeps enlarging the young generation of such a thread under sustained load: with the
 * default limit `npm run bench` saw RSS grow 25-28% after warm-up (64 and 128 MB: the
 * same). Capped at 32 MB it reaches its size during warm-up and RSS stays flat (+3%,
 * +5.5%), at no measurable CPU cost (49-52 µs per request either way).
 */
const LISTENER_LIMITS = { maxYoungGenerationSizeMb: 32 } as const;

export interface Balancer {
  readonly host: string;
  /** The port every listener thread is bound to. */
  readonly port: number;
  /** Backend origins in shared-state order (embedded ones included). */
  readonly origins: readonly string[];
  readonly state: SharedState;
  readonly listeners: readonly SupervisedThread[];
  readonly backends: readonly SupervisedThread[];
  /** Drains and stops every thread; resolves with the number of requests aborted at the deadline. */
  stop(timeoutMs?: number): Promise<number>;
}

export interface StartOptions {
  /** Where progress and thread failures are reported; silent by default. */
  readonly log?: (line: string) => void;
}

export async function startBalancer(config: Config, { log = () => {} }: StartOptions = {}): Promise<Balancer> {
  const backends: SupervisedThread[] = [];
  const listeners: SupervisedThread[] = [];
  const stopAll = async (timeoutMs: number): Promise<number> => {
    let waiting = listeners.filter((thread) => thread.worker !== null).length;
    let inFlight = 0;
    const onStoppedAccepting = (running: number): void => {
      inFlight += running;
      if (--waiting === 0) log(`stopped accepting new connections; ${inFlight} request${inFlight === 1 ? '' : 's'} in flight`);
    };
    const aborted = await Promise.all(listeners.map((thread) => thread.stop(timeoutMs, onStoppedAccepting)));
    await Promise.all(backends.map((thread) => thread.stop(timeoutMs)));
    return aborted.reduce((sum, n) => sum + n, 0);
  };

  try {
    const origins = config.backends.length > 0 ? [...config.backends] : await startEmbeddedBackends(config, backends, log);
    const state = SharedState.create({ backendCount: origins.length, listenerCount: config.threads });
    if (config.port !== 0) await assertPortFree(config.host, config.port);

    let port = config.port;
    for (let listener = 0; listener < config.threads; listener++) {
      listeners.push(
        new SupervisedThread({
          label: `listener ${listener}`,
          entry: LISTENER_ENTRY,
          resourceLimits: LISTENER_LIMITS,
          workerData: (): ListenerThreadData => ({ config, buffer: state.buffer, listener, port, origins }),
          log,
          onDeath: () => {
            const released = state.releaseListener(listener);
            if (released > 0) log(`listener ${listener} died with ${released} requests in flight; their in-flight counts were released`);
          },
        }),
      );
    }
    // The first listener learns the port (ephemeral when --port 0); the others join it.
    const [first, ...rest] = listeners;
    if (first) port = await first.start();
    await Promise.all(rest.map((thread) => thread.start()));

    return {
      host: config.host,
      port,
      origins,
      state,
      listeners,
      backends,
      stop: (timeoutMs = config.shutdownTimeoutMs) => stopAll(timeoutMs),
    };
  } catch (error) {
    await stopAll(1_000);
    throw error;
  }
}

async function startEmbeddedBackends(config: Config, threads: SupervisedThread[], log: (line: string) => void): Promise<string[]> {
  const ports: number[] = [];
  for (let i = 0; i < config.spawnBackends; i++) {
    const wanted = config.port === 0 ? 0 : config.port + 1 + i;
    const thread = new SupervisedThread({
      label: wanted === 0 ? `backend ${i}` : `backend :${wanted}`,
      entry: BACKEND_ENTRY,
      // A restarted backend must come back on the port the listeners' pools point at.
      workerData: (): BackendThreadData => ({ host: config.host, port: ports[i] ?? wanted }),
      log,
    });
    threads.push(thread);
  }
  const bound = await Promise.all(threads.map((thread) => thread.start()));
  ports.push(...bound);
  for (const port of bound) log(`backend :${port} serving at http://${hostForUrl(config.host)}:${port} (worker thread)`);
  return bound.map((port) => `http://${hostForUrl(config.host)}:${port}`);
}

/**
 * Fails fast when another process holds the port. Without this check a second
 * switchyard (also binding with reusePort as the same user) would silently share the
 * port with the first, and the kernel would split clients between the two.
 */
function assertPortFree(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      reject(new Error(`cannot listen on ${host}:${port}: ${error.code === 'EADDRINUSE' ? 'the port is already in use' : error.message}`));
    });
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

export function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
