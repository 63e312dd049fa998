/**
 * @module Which undici API costs a proxy least: `request`, `stream` and `dispatch`, each
 * relaying small GETs from one local backend (switchyard's embedded backend, in a worker
 * thread) into a fresh Writable per response, as a proxy relays into its client's
 * response. tinybench times batches of concurrent requests; the figure that matters
 * for a proxy is this thread's CPU per request, measured around each task's run.
 * src/upstream/upstream-pools.ts chose `dispatch`; this checks that choice.
 * Runs alone too: `node bench/undici-api.bench.ts`.
 */
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { Bench } from 'tinybench';
import { Pool, type Dispatcher } from 'undici';
import { startBackendThreads } from './load/backends.ts';
import { fixed, ratio, table } from './report.ts';

export const APIS = ['dispatch', 'request', 'stream'] as const;
export type Api = (typeof APIS)[number];

export interface UndiciApiOptions {
  readonly timeMs: number;
  /** Requests in flight per tinybench sample (and connections in the pool). */
  readonly concurrency: number;
  /** Rounds of all three APIs, each in a different order; the median is reported. */
  readonly rounds: number;
}

export interface UndiciApiCost {
  readonly api: Api;
  /** Wall time per request: a batch's time divided by its size. */
  readonly wallMicrosPerRequest: number;
  /** tinybench's relative margin of error of the median round's wall time, percent. */
  readonly rme: number;
  /** This thread's CPU per request during the task's measured run. */
  readonly cpuMicrosPerRequest: number;
  readonly requests: number;
}

export interface UndiciApiResult {
  readonly concurrency: number;
  readonly rounds: number;
  readonly costs: readonly UndiciApiCost[];
}

/** What a proxy writes a response body into; here it discards the bytes. */
class ClientSide extends Writable {
  override _write(_chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    done();
  }
}

/** The `dispatch` relay: chunks straight from undici into the client side, with backpressure. */
class Relay implements Dispatcher.DispatchHandler {
  readonly #out = new ClientSide();
  readonly #resolve: () => void;
  readonly #reject: (error: Error) => void;

  constructor(resolve: () => void, reject: (error: Error) => void) {
    this.#resolve = resolve;
    this.#reject = reject;
  }

  onRequestStart(): void {}

  onResponseStart(_controller: Dispatcher.DispatchController, _status: number, _headers: IncomingHttpHeaders): void {}

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.#out.write(chunk)) {
      controller.pause();
      this.#out.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.#out.end(this.#resolve);
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.#out.destroy(error);
    this.#reject(error);
  }
}

const GET = { path: '/', method: 'GET' } as const;

const relays: Record<Api, (pool: Pool, origin: string) => Promise<unknown>> = {
  dispatch: (pool, origin) => new Promise<void>((resolve, reject) => pool.dispatch({ ...GET, origin }, new Relay(resolve, reject))),
  request: async (pool) => {
    const { body } = await pool.request(GET);
    await pipeline(body, new ClientSide());
  },
  stream: (pool) => pool.stream(GET, () => new ClientSide()),
};

export async function runUndiciApiBench(options: UndiciApiOptions, step: (text: string) => void = () => {}): Promise<UndiciApiResult> {
  const backends = await startBackendThreads(1, step);
  const origin = backends.origins[0] ?? '';
  const pool = new Pool(origin, { connections: options.concurrency, pipelining: 1 });
  try {
    const rounds: UndiciApiCost[][] = [];
    for (let round = 0; round < options.rounds; round++) {
      // Each round starts with a different API, so that drift (JIT, a neighbour's load)
      // does not always favour the same one; the median round is reported.
      const order = APIS.map((_, i) => APIS[(i + round) % APIS.length] as Api);
      step(`round ${round + 1}/${options.rounds}: ${order.join(', ')}, batches of ${options.concurrency} concurrent GETs to ${origin}`);
      rounds.push(await runRound(pool, origin, order, options, step));
    }
    const costs = APIS.map((api): UndiciApiCost => {
      const mine = rounds.flatMap((round) => round.filter((cost) => cost.api === api));
      const byCpu = [...mine].sort((a, b) => a.cpuMicrosPerRequest - b.cpuMicrosPerRequest);
      const byWall = [...mine].sort((a, b) => a.wallMicrosPerRequest - b.wallMicrosPerRequest);
      const middle = Math.floor(mine.length / 2);
      const median = byCpu[middle];
      if (!median) throw new Error(`no result for ${api}`);
      return {
        ...median,
        wallMicrosPerRequest: byWall[middle]?.wallMicrosPerRequest ?? median.wallMicrosPerRequest,
        requests: mine.reduce((sum, cost) => sum + cost.requests, 0),
      };
    });
    return { concurrency: options.concurrency, rounds: options.rounds, costs };
  } finally {
    await pool.close();
    await backends.stop();
  }
}

async function runRound(pool: Pool, origin: string, order: readonly Api[], options: UndiciApiOptions, step: (text: string) => void): Promise<UndiciApiCost[]> {
  const bench = new Bench({ time: options.timeMs, warmupTime: Math.min(300, options.timeMs / 2) });
  const cpu = new Map<Api, { micros: number; requests: number }>();
  for (const api of order) {
    let cpuAtStart = 0;
    let requests = 0;
    bench.add(
      api,
      async () => {
        await Promise.all(Array.from({ length: options.concurrency }, () => relays[api](pool, origin)));
        requests += options.concurrency;
      },
      {
        beforeAll() {
          const { user, system } = process.threadCpuUsage();
          cpuAtStart = user + system;
          requests = 0;
        },
        afterAll(mode) {
          const { user, system } = process.threadCpuUsage();
          if (mode === 'run') cpu.set(api, { micros: user + system - cpuAtStart, requests });
        },
      },
    );
  }
  bench.addEventListener('cycle', (event) => {
    if (event.task) step(`${event.task.name} done`);
  });
  await bench.run();
  return bench.tasks.map((task): UndiciApiCost => {
    const result = task.result;
    if (result.state !== 'completed') throw new Error(`tinybench task ${task.name} ended ${result.state}`);
    const api = task.name as Api;
    const used = cpu.get(api) ?? { micros: 0, requests: 0 };
    return {
      api,
      wallMicrosPerRequest: (result.latency.mean * 1000) / options.concurrency,
      rme: result.latency.rme,
      cpuMicrosPerRequest: used.micros / Math.max(1, used.requests),
      requests: used.requests,
    };
  });
}

export function undiciApiTable(result: UndiciApiResult): string {
  const dispatch = result.costs.find((cost) => cost.api === 'dispatch');
  const rows = result.costs.map((cost) => [
    cost.api,
    fixed(cost.cpuMicrosPerRequest),
    dispatch ? ratio(cost.cpuMicrosPerRequest / dispatch.cpuMicrosPerRequest) : '',
    fixed(cost.wallMicrosPerRequest),
    `±${cost.rme.toFixed(1)}%`,
    cost.requests.toLocaleString('en-US'),
  ]);
  return table(['undici API', 'CPU µs/req', 'vs dispatch', 'wall µs/req', 'rme', 'requests'], rows);
}

if (import.meta.main) {
  const result = await runUndiciApiBench({ timeMs: 1_000, concurrency: 16, rounds: 3 }, (text) => console.error(text));
  console.log(undiciApiTable(result));
}
