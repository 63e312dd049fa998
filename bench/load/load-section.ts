/**
 * @module Sections 3 and 4 of the bench: the same load generator, in one run, straight
 * to one backend, then through the real balancer with 1 listener thread, then with N.
 * Each balancer runs as its own child process (balancer-process.ts) so that its CPU
 * time and RSS are its own; the backends and the load generator run in this process.
 * After each balancer run, its /metrics is checked against the backends' own counts
 * (metrics-exactness.ts).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Cleanup } from '../cleanup.ts';
import type { Progress } from '../progress.ts';
import { externalBackends, startBackendThreads, type Backends } from './backends.ts';
import { BalancerChild } from './balancer-child.ts';
import { distribution, type Distribution } from './distribution.ts';
import { LoadGenerator, type LoadRun, type LoadTick } from './generator.ts';
import { MemorySampler, type Memory } from './memory.ts';
import { checkMetricsExactness, scrapeMetrics, type MetricsExactness } from './metrics-exactness.ts';
import { balancerWindow, cpuBreakdown, readMachineTicks, saturation, type CpuBreakdown, type Saturation, type WindowSnapshot } from './measure.ts';

export interface LoadSectionOptions {
  readonly warmupMs: number;
  readonly measureMs: number;
  readonly connections: number;
  readonly loadThreads: number;
  /** Listener threads of the "N threads" run. */
  readonly threads: number;
  /** Embedded backend threads to start, when `backendUrls` is empty. */
  readonly backendCount: number;
  readonly backendUrls: readonly string[];
  readonly availableCores: number;
  /** Write a CPU profile of each balancer process here (`node --cpu-prof`). */
  readonly cpuProfDir: string | null;
}

export interface Scenario {
  readonly name: string;
  /** Listener threads, or null straight to a backend. */
  readonly listenerThreads: number | null;
  readonly origin: string;
  readonly requests: number;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  readonly latencyMs: LoadRun<unknown>['latencyMs'];
  readonly totalResponses: number;
  readonly errors: Record<string, number>;
  readonly errorCount: number;
  readonly cpu: CpuBreakdown;
  readonly saturation: Saturation;
  /** Balancer runs only. */
  readonly memory: Memory | null;
  readonly distribution: Distribution | null;
  /** /metrics against the backends' counts after the run (balancer runs only). */
  readonly metrics: MetricsExactness | null;
  readonly cpuProfDir: string | null;
}

export interface LoadSection {
  readonly backends: readonly string[];
  readonly embeddedBackends: boolean;
  readonly connections: number;
  readonly loadThreads: number;
  readonly scenarios: readonly Scenario[];
}

export async function runLoadSection(options: LoadSectionOptions, progress: Progress, cleanup: Cleanup): Promise<LoadSection> {
  const backends: Backends =
    options.backendUrls.length > 0 ? externalBackends(options.backendUrls) : await startBackendThreads(options.backendCount, (line) => progress.note(line));
  const stopBackends = cleanup.defer('backends', () => backends.stop());
  const generator = new LoadGenerator({ threads: options.loadThreads, connections: options.connections });
  const closeGenerator = cleanup.defer('load generator', () => generator.close());

  const scenarios: Scenario[] = [];
  const first = backends.origins[0];
  if (first === undefined) throw new Error('no backends to drive');
  progress.step(`load: straight to one backend (${first}), no balancer`);
  scenarios.push(await direct(first, generator, backends, options, progress));

  const threadCounts = options.threads === 1 ? [1] : [1, options.threads];
  for (const threads of threadCounts) {
    progress.step(`load: through the balancer, ${threads} listener thread${threads === 1 ? '' : 's'}`);
    scenarios.push(await throughBalancer(threads, generator, backends, options, progress, cleanup));
  }

  await closeGenerator();
  await stopBackends();
  return {
    backends: backends.origins,
    embeddedBackends: backends.embedded,
    connections: options.connections,
    loadThreads: options.loadThreads,
    scenarios,
  };
}

async function direct(origin: string, generator: LoadGenerator, backends: Backends, options: LoadSectionOptions, progress: Progress): Promise<Scenario> {
  const run = await generator.run<WindowSnapshot>({
    origin,
    warmupMs: options.warmupMs,
    measureMs: options.measureMs,
    snapshot: async () => ({ balancer: null, backends: await backends.cpuMicros(), machine: readMachineTicks() }),
    onTick: (tick) => progress.update(describeTick(tick, options)),
  });
  const cpu = cpuBreakdown(run.before, run.after, run.generatorCpuPerThreadMicros, run.requests, run.seconds, options.availableCores);
  return {
    ...figures(run),
    name: 'direct to one backend',
    listenerThreads: null,
    origin,
    cpu,
    saturation: saturation(cpu, options.connections),
    memory: null,
    distribution: null,
    metrics: null,
    cpuProfDir: null,
  };
}

async function throughBalancer(
  threads: number,
  generator: LoadGenerator,
  backends: Backends,
  options: LoadSectionOptions,
  progress: Progress,
  cleanup: Cleanup,
): Promise<Scenario> {
  const profDir = options.cpuProfDir === null ? null : join(options.cpuProfDir, `balancer-${threads}-thread${threads === 1 ? '' : 's'}`);
  if (profDir) mkdirSync(profDir, { recursive: true });
  const child = await BalancerChild.start({
    // An admin listener that nobody reads during the run: /metrics is scraped once, after it.
    args: ['--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--threads', String(threads), ...backends.origins.flatMap((origin) => ['--backend', origin])],
    execArgv: profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [],
  });
  const stopChild = cleanup.defer(`balancer (${threads} threads)`, () => child.stop());

  const sampler = new MemorySampler(() => child.snapshot());
  const stopSampler = cleanup.defer('memory sampler', () => sampler.stop());

  const run = await generator.run<WindowSnapshot>({
    origin: `http://127.0.0.1:${child.port}`,
    warmupMs: options.warmupMs,
    measureMs: options.measureMs,
    snapshot: balancerWindow(child, backends),
    onTick: (tick) => progress.update(describeTick(tick, options)),
  });
  // Every response is in: the counters are final.
  const final = await child.snapshot();
  if (child.adminPort === null) throw new Error('the balancer reported no admin port');
  const metrics = checkMetricsExactness(await scrapeMetrics(child.adminPort), backends.origins, backends.embedded ? run.byBackend : {}, run.totalResponses);
  await stopSampler();
  await stopChild();

  const cpu = cpuBreakdown(run.before, run.after, run.generatorCpuPerThreadMicros, run.requests, run.seconds, options.availableCores);
  const afterWarmup = run.before.balancer;
  if (!afterWarmup) throw new Error('no balancer snapshot at the end of the warm-up');
  const memory = sampler.figures(afterWarmup, final, { start: run.measureStartedAt, end: run.measureEndedAt });
  return {
    ...figures(run),
    name: `balancer, ${threads} listener thread${threads === 1 ? '' : 's'}`,
    listenerThreads: threads,
    origin: `http://127.0.0.1:${child.port}`,
    cpu,
    saturation: saturation(cpu, options.connections),
    memory,
    distribution: distribution(backends.origins, final.backends, final.listeners, backends.embedded ? run.byBackend : {}),
    metrics,
    cpuProfDir: profDir,
  };
}

function figures(run: LoadRun<WindowSnapshot>): Pick<
  Scenario,
  'requests' | 'seconds' | 'requestsPerSecond' | 'latencyMs' | 'totalResponses' | 'errors' | 'errorCount'
> {
  return {
    requests: run.requests,
    seconds: run.seconds,
    requestsPerSecond: run.requestsPerSecond,
    latencyMs: run.latencyMs,
    totalResponses: run.totalResponses,
    errors: run.errors,
    errorCount: run.errorCount,
  };
}

function describeTick(tick: LoadTick, options: LoadSectionOptions): string {
  const total = tick.phase === 'warm-up' ? options.warmupMs : options.measureMs;
  const width = 20;
  const done = Math.min(width, Math.round((tick.phaseMs / total) * width));
  return (
    `${tick.phase} [${'#'.repeat(done)}${'.'.repeat(width - done)}] ${(tick.phaseMs / 1000).toFixed(1)}/${(total / 1000).toFixed(1)} s, ` +
    `${tick.completed.toLocaleString('en-US')} responses, ${Math.round(tick.rate).toLocaleString('en-US')} req/s, ${tick.errors} errors`
  );
}
