/**
 * @module The main thread's view of one worker thread (a listener or a backend): starts
 * it, waits until it listens, restarts it with backoff when it dies unasked, and stops it.
 */
import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { ShutdownMessage, ThreadMessage, UsageRequestMessage } from './messages.ts';

const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;
/** A thread that ran this long before dying starts again from the first backoff step. */
const STABLE_AFTER_MS = 10_000;

export interface ThreadUsage {
  readonly userMicros: number;
  readonly systemMicros: number;
  readonly heapUsedBytes: number;
}

export interface SupervisedThreadOptions {
  /** How the thread is named in log lines, e.g. `listener 1` or `backend :8081`. */
  readonly label: string;
  readonly entry: URL;
  /** Fresh `workerData` for each start (a restart may need a different port). */
  readonly workerData: () => unknown;
  readonly log: (line: string) => void;
  /** V8 heap limits for the thread (see Node's Worker resourceLimits). */
  readonly resourceLimits?: ResourceLimits;
  /** Called after the thread died unasked, before it is started again. */
  readonly onDeath?: () => void;
}

export class SupervisedThread {
  readonly label: string;
  #options: SupervisedThreadOptions;
  #worker: Worker | null = null;
  #stopping = false;
  #backoffMs = FIRST_BACKOFF_MS;
  #restartTimer: NodeJS.Timeout | null = null;
  #listeningFds: readonly number[] = [];
  /** How many times the thread was restarted after dying. */
  restarts = 0;

  constructor(options: SupervisedThreadOptions) {
    this.label = options.label;
    this.#options = options;
  }

  get worker(): Worker | null {
    return this.#worker;
  }

  /** The descriptors of the listening sockets it reported, while it runs; none otherwise. */
  get listeningFds(): readonly number[] {
    return this.#worker === null ? [] : this.#listeningFds;
  }

  /** Starts the thread; resolves with the port it listens on, rejects if it dies first. */
  start(): Promise<number> {
    const worker = new Worker(this.#options.entry, { workerData: this.#options.workerData(), resourceLimits: this.#options.resourceLimits });
    this.#worker = worker;
    const startedAt = Date.now();
    return new Promise<number>((resolve, reject) => {
      let listening = false;
      let lastError: Error | null = null;
      worker.on('message', (message: ThreadMessage) => {
        if (message.type === 'listening' && !listening) {
          listening = true;
          this.#listeningFds = message.fds ?? [];
          resolve(message.port);
        }
      });
      worker.on('error', (error) => {
        lastError = error;
        if (listening) this.#options.log(`${this.label} failed: ${oneLine(error)}`);
      });
      worker.on('exit', (code) => {
        if (this.#worker === worker) {
          this.#worker = null;
          this.#listeningFds = [];
        }
        if (!listening) {
          reject(new Error(`${this.label} could not start: ${lastError ? oneLine(lastError) : `exited with code ${code}`}`));
          return;
        }
        if (this.#stopping) return;
        this.#options.onDeath?.();
        if (Date.now() - startedAt > STABLE_AFTER_MS) this.#backoffMs = FIRST_BACKOFF_MS;
        const delay = this.#backoffMs;
        this.#backoffMs = Math.min(this.#backoffMs * 2, MAX_BACKOFF_MS);
        this.#options.log(`${this.label} exited (code ${code}); restarting in ${delay} ms`);
        this.#restartTimer = setTimeout(() => this.#restart(), delay);
      });
    });
  }

  #restart(): void {
    this.#restartTimer = null;
    if (this.#stopping) return;
    this.restarts++;
    this.start().then(
      () => this.#options.log(`${this.label} restarted`),
      (error: Error) => {
        this.#options.log(`${error.message}; trying again`);
        // start() failed before listening: its exit handler does not reschedule.
        if (!this.#stopping) this.#restartTimer = setTimeout(() => this.#restart(), this.#backoffMs);
      },
    );
  }

  /** CPU time the thread itself has used so far (microseconds), or null if it is not running. */
  cpuUsage(): Promise<ThreadUsage | null> {
    return this.usage();
  }

  /** The thread's own CPU time and heap; `collectGarbage` first when the process has --expose-gc. */
  usage({ collectGarbage = false } = {}): Promise<ThreadUsage | null> {
    const worker = this.#worker;
    if (!worker) return Promise.resolve(null);
    return new Promise((resolve) => {
      const onMessage = (message: ThreadMessage): void => {
        if (message.type !== 'usage') return;
        worker.off('message', onMessage);
        worker.off('exit', onExit);
        resolve({ userMicros: message.userMicros, systemMicros: message.systemMicros, heapUsedBytes: message.heapUsedBytes });
      };
      const onExit = (): void => {
        worker.off('message', onMessage);
        resolve(null);
      };
      worker.on('message', onMessage);
      worker.once('exit', onExit);
      const request: UsageRequestMessage = { type: 'usage-request', collectGarbage };
      worker.postMessage(request);
    });
  }

  /**
   * Asks the thread to drain and exit; resolves with how many requests it had to abort
   * at the deadline. A thread that does not exit within `timeoutMs` plus a grace period
   * is terminated. `handover`: a takeover's drain (ShutdownMessage says what changes).
   */
  stop(timeoutMs: number, onStoppedAccepting?: (inFlight: number) => void, handover = false): Promise<number> {
    this.#stopping = true;
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    const worker = this.#worker;
    if (!worker) return Promise.resolve(0);
    return new Promise<number>((resolve) => {
      let aborted = 0;
      worker.on('message', (message: ThreadMessage) => {
        if (message.type === 'drained') aborted = message.aborted;
        if (message.type === 'stopped-accepting') onStoppedAccepting?.(message.inFlight);
      });
      const kill = setTimeout(() => void worker.terminate(), timeoutMs + 2_000);
      worker.once('exit', () => {
        clearTimeout(kill);
        resolve(aborted);
      });
      const shutdown: ShutdownMessage = { type: 'shutdown', timeoutMs, handover };
      worker.postMessage(shutdown);
    });
  }
}

function oneLine(error: Error): string {
  return (error.message.split('\n')[0] ?? String(error)).trim();
}
