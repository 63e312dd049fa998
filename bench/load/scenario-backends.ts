/**
 * @module The main thread's handle on the load scenarios' backends
 * (scenario-backend-thread.ts): each a worker thread of the bench process that can be
 * made slow, killed and revived on the same port.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { ScenarioBackendData, ScenarioBackendReport, ScenarioBackendRequest } from './scenario-backend-thread.ts';

const ENTRY = new URL('./scenario-backend-thread.ts', import.meta.url);
const HOST = '127.0.0.1';
/** Below Linux's default ephemeral range (32768-60999): a dead backend's port stays free. */
const PORT_RANGE = { from: 20_000, to: 32_000 } as const;
const PORT_TRIES = 50;

export class ScenarioBackend {
  readonly origin: string;
  readonly port: number;
  readonly delayMs: number;
  readonly #worker: Worker;

  private constructor(worker: Worker, port: number, delayMs: number) {
    this.#worker = worker;
    this.port = port;
    this.origin = `http://${HOST}:${port}`;
    this.delayMs = delayMs;
  }

  /** A backend answering after `delayMs` (0: at once). */
  static async start(delayMs: number): Promise<ScenarioBackend> {
    const span = PORT_RANGE.to - PORT_RANGE.from;
    const ports = Array.from({ length: PORT_TRIES }, () => PORT_RANGE.from + Math.floor(Math.random() * span));
    const data: ScenarioBackendData = { host: HOST, ports, delayMs };
    const worker = new Worker(ENTRY, { workerData: data });
    const report = await next(worker);
    if (report.type !== 'listening') {
      await worker.terminate();
      throw new Error(`a scenario backend did not start: ${report.type === 'failed' ? report.message : report.type}`);
    }
    return new ScenarioBackend(worker, report.port, delayMs);
  }

  /** Stops listening and resets every connection; resolves with the wall-clock time it did. */
  async kill(): Promise<number> {
    const report = await this.#ask({ type: 'kill' });
    if (report.type !== 'killed') throw new Error(`${this.origin} did not die: ${report.type}`);
    return report.at;
  }

  /** Listens on its port again; resolves with the wall-clock time it did. */
  async revive(): Promise<number> {
    const report = await this.#ask({ type: 'revive' });
    if (report.type !== 'listening') throw new Error(`${this.origin} did not come back: ${report.type === 'failed' ? report.message : report.type}`);
    return report.at;
  }

  async stop(): Promise<void> {
    const exited = once(this.#worker, 'exit');
    this.#worker.postMessage({ type: 'stop' } satisfies ScenarioBackendRequest);
    const kill = setTimeout(() => void this.#worker.terminate(), 1_000);
    await exited;
    clearTimeout(kill);
  }

  #ask(request: ScenarioBackendRequest): Promise<ScenarioBackendReport> {
    const answer = next(this.#worker);
    this.#worker.postMessage(request);
    return answer;
  }
}

function next(worker: Worker): Promise<ScenarioBackendReport> {
  return new Promise((resolve, reject) => {
    const onMessage = (report: ScenarioBackendReport): void => {
      worker.off('error', onError);
      resolve(report);
    };
    const onError = (error: Error): void => {
      worker.off('message', onMessage);
      reject(error);
    };
    worker.once('message', onMessage);
    worker.once('error', onError);
  });
}
