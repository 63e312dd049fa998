/**
 * @module Section 5, one backend slow: three backends, one of which answers every
 * request `delayMs` late; the same load generator drives the real balancer (a child
 * process, balancer-process.ts) with each algorithm in turn, a fresh balancer per
 * algorithm. Per algorithm: throughput, p50/p99 of the measured window, and how many of
 * its requests each backend got (the balancer's own per-slot count of attempts).
 */
import type { AlgorithmName } from '../../src/routing/algorithms/names.ts';
import type { Cleanup } from '../cleanup.ts';
import type { Progress } from '../progress.ts';
import { BalancerChild } from './balancer-child.ts';
import type { BalancerSnapshot } from './balancer-messages.ts';
import { LoadGenerator, type LoadRun } from './generator.ts';
import { balancerArgs, describeTick, SCENARIO_PATHS, startScenarioBackends, type ScenarioOptions } from './scenario.ts';

export interface SlowBackendOptions extends ScenarioOptions {
  readonly backendCount: number;
  /** Added to every answer of the slow backend. */
  readonly delayMs: number;
}

export interface BackendShare {
  readonly origin: string;
  readonly slow: boolean;
  /** Attempts the balancer sent there in the measured window. */
  readonly requests: number;
  readonly share: number;
}

export interface SlowRun {
  readonly algorithm: AlgorithmName;
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly latencyMs: LoadRun<unknown>['latencyMs'];
  readonly errorCount: number;
  readonly errors: Record<string, number>;
  readonly backends: readonly BackendShare[];
}

export interface SlowBackendSection {
  readonly delayMs: number;
  readonly backendCount: number;
  readonly connections: number;
  readonly loadThreads: number;
  readonly threads: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  readonly runs: readonly SlowRun[];
}

export async function runSlowBackend(options: SlowBackendOptions, progress: Progress, cleanup: Cleanup): Promise<SlowBackendSection> {
  // The last one is slow: slot order never favours it.
  const delays = Array.from({ length: options.backendCount }, (_, i) => (i === options.backendCount - 1 ? options.delayMs : 0));
  const { backends, stop: stopBackends } = await startScenarioBackends(delays, cleanup);
  const generator = new LoadGenerator({ threads: options.loadThreads, connections: options.connections });
  const closeGenerator = cleanup.defer('load generator (slow backend)', () => generator.close());
  const origins = backends.map((backend) => backend.origin);
  const runs: SlowRun[] = [];
  for (const algorithm of options.algorithms) {
    progress.step(`one backend slow (+${options.delayMs} ms): ${algorithm}`);
    const child = await BalancerChild.start({ args: balancerArgs(algorithm, origins, options.threads) });
    const stopChild = cleanup.defer(`balancer (${algorithm})`, () => child.stop());
    const run = await generator.run<BalancerSnapshot>({
      origin: `http://127.0.0.1:${child.port}`,
      warmupMs: options.warmupMs,
      measureMs: options.measureMs,
      paths: SCENARIO_PATHS,
      snapshot: () => child.snapshot(),
      onTick: (tick) => progress.update(describeTick(tick)),
    });
    await stopChild();
    const sent = backends.map((backend) => started(run.after, backend.origin) - started(run.before, backend.origin));
    const total = sent.reduce((sum, n) => sum + n, 0);
    runs.push({
      algorithm,
      requests: run.requests,
      requestsPerSecond: run.requestsPerSecond,
      latencyMs: run.latencyMs,
      errorCount: run.errorCount,
      errors: run.errors,
      backends: backends.map((backend, i) => ({ origin: backend.origin, slow: backend.delayMs > 0, requests: sent[i] ?? 0, share: (sent[i] ?? 0) / Math.max(1, total) })),
    });
  }
  await closeGenerator();
  await stopBackends();
  const { delayMs, backendCount, connections, loadThreads, threads, warmupMs, measureMs } = options;
  return { delayMs, backendCount, connections, loadThreads, threads, warmupMs, measureMs, runs };
}

export function started(snapshot: BalancerSnapshot, origin: string): number {
  return snapshot.backends.find((b) => b.origin === origin)?.started ?? 0;
}
