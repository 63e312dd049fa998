/**
 * @module Section 8 of the bench: what watching the balancer costs it. The load section's
 * load (same generator, same backends, small keep-alive GETs) through a fresh balancer
 * per variant, in one run: the baseline (admin listener on, nobody reading it), /metrics
 * scraped every second, the dashboard's /events stream open with one reader, and the
 * access log to a file. Each variant's balancer CPU per request and throughput are
 * reported against the baseline's of the same run (observability-report.ts). With several
 * rounds the order alternates (a b c d, then d c b a), so that a drift of the machine
 * over the run weighs on every variant alike, and each round is compared with its own
 * baseline.
 */
import { createReadStream, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cleanup } from '../cleanup.ts';
import type { Progress } from '../progress.ts';
import { measureAccessLogLines, type AccessLogLineCost } from './access-log-lines.ts';
import { readEvents, scrapeEvery, type Watcher, type WatcherFigures } from './admin-watchers.ts';
import { externalBackends, startBackendThreads, type Backends } from './backends.ts';
import { BalancerChild } from './balancer-child.ts';
import { LoadGenerator } from './generator.ts';
import { balancerWindow, cpuBreakdown, type WindowSnapshot } from './measure.ts';
import { describeTick } from './scenario.ts';

export const VARIANTS = ['baseline', 'metrics', 'events', 'access-log'] as const;
export type Variant = (typeof VARIANTS)[number];

export const SCRAPE_EVERY_MS = 1_000;

export const VARIANT_LABELS: Readonly<Record<Variant, string>> = {
  baseline: 'baseline (admin on, not read)',
  metrics: `/metrics every ${SCRAPE_EVERY_MS / 1000} s`,
  events: '/events open, 1 reader',
  'access-log': '--access-log FILE',
};

export interface ObservabilityOptions {
  readonly warmupMs: number;
  readonly measureMs: number;
  /** How many times each variant runs (alternating order); figures are pooled over them. */
  readonly rounds: number;
  /** Lines the access log writes alone, apart from the load (access-log-lines.ts). */
  readonly accessLogLines: number;
  readonly connections: number;
  readonly loadThreads: number;
  /** Listener threads of every balancer. */
  readonly threads: number;
  readonly backendCount: number;
  readonly backendUrls: readonly string[];
  readonly availableCores: number;
}

/** One variant's run in one round. */
export interface VariantRound {
  readonly round: number;
  readonly requests: number;
  readonly seconds: number;
  /** The whole balancer process, its listener threads, its main thread: CPU µs in the window. */
  readonly balancerMicros: number;
  readonly listenerMicros: number;
  readonly mainThreadMicros: number;
  readonly errorCount: number;
  readonly errors: Record<string, number>;
  /** Cores other processes kept busy meanwhile (null: not measurable): what skews a round. */
  readonly otherProcessesCores: number | null;
  /** Scrapes or readings seen by the watcher; null when nothing watched. */
  readonly watched: WatcherFigures | null;
  /** access-log only: lines in the file, and requests the listener threads took over the whole run. */
  readonly accessLog: { readonly lines: number; readonly bytes: number; readonly requests: number } | null;
}

export interface VariantResult {
  readonly variant: Variant;
  readonly label: string;
  readonly rounds: readonly VariantRound[];
  /** Pooled over the rounds. */
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly balancerMicrosPerRequest: number;
  readonly listenerMicrosPerRequest: number;
  readonly mainThreadMicrosPerRequest: number;
  /** GC, compiler and libuv threads (the access log's writes run there). */
  readonly otherThreadsMicrosPerRequest: number;
  /** The main thread (where the admin listener runs): CPU ms per second of the windows. */
  readonly mainThreadMillisPerSecond: number;
}

export interface ObservabilitySection {
  readonly threads: number;
  readonly connections: number;
  readonly loadThreads: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  readonly rounds: number;
  readonly variants: readonly VariantResult[];
  /** The access log's own cost per line, measured apart from the load. */
  readonly accessLogLines: AccessLogLineCost;
}

export async function runObservabilityCost(options: ObservabilityOptions, progress: Progress, cleanup: Cleanup): Promise<ObservabilitySection> {
  const backends: Backends =
    options.backendUrls.length > 0 ? externalBackends(options.backendUrls) : await startBackendThreads(options.backendCount, (line) => progress.note(line));
  const stopBackends = cleanup.defer('backends (observability)', () => backends.stop());
  const generator = new LoadGenerator({ threads: options.loadThreads, connections: options.connections });
  const closeGenerator = cleanup.defer('load generator (observability)', () => generator.close());
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-access-log-'));
  const removeDir = cleanup.defer('access log directory', () => rm(dir, { recursive: true, force: true }));

  const byVariant = new Map<Variant, VariantRound[]>(VARIANTS.map((variant) => [variant, []]));
  for (let round = 0; round < options.rounds; round++) {
    const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
    for (const variant of order) {
      progress.step(`observability, round ${round + 1} of ${options.rounds}: ${VARIANT_LABELS[variant]}`);
      byVariant.get(variant)?.push(await runVariant(variant, round, { backends, generator, options, dir, progress, cleanup }));
    }
  }

  await removeDir();
  await closeGenerator();
  await stopBackends();
  progress.step(`observability: the access log alone, ${options.accessLogLines.toLocaleString('en-US')} lines to a file`);
  const accessLogLines = await measureAccessLogLines(options.accessLogLines);
  const { threads, connections, loadThreads, warmupMs, measureMs, rounds } = options;
  return {
    threads,
    connections,
    loadThreads,
    warmupMs,
    measureMs,
    rounds,
    variants: VARIANTS.map((variant) => pooled(variant, byVariant.get(variant) ?? [])),
    accessLogLines,
  };
}

interface RunContext {
  readonly backends: Backends;
  readonly generator: LoadGenerator;
  readonly options: ObservabilityOptions;
  readonly dir: string;
  readonly progress: Progress;
  readonly cleanup: Cleanup;
}

async function runVariant(variant: Variant, round: number, { backends, generator, options, dir, progress, cleanup }: RunContext): Promise<VariantRound> {
  const logFile = join(dir, `access-${round}.jsonl`);
  const child = await BalancerChild.start({
    args: [
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--admin-port',
      '0',
      '--threads',
      String(options.threads),
      ...backends.origins.flatMap((origin) => ['--backend', origin]),
      ...(variant === 'access-log' ? ['--access-log', logFile] : []),
    ],
  });
  const stopChild = cleanup.defer(`balancer (observability: ${variant})`, () => child.stop());
  if (child.adminPort === null) throw new Error('the balancer reported no admin port');

  // Watching starts before the warm-up: the balancer's side of it is warm too when measured.
  const watcher: Watcher | null = variant === 'metrics' ? scrapeEvery(child.adminPort, SCRAPE_EVERY_MS) : variant === 'events' ? await readEvents(child.adminPort) : null;
  let watched: WatcherFigures | null = null;
  const stopWatcher = cleanup.defer(`admin watcher (${variant})`, async () => {
    if (watcher) watched = await watcher.stop();
  });

  const run = await generator.run<WindowSnapshot>({
    origin: `http://127.0.0.1:${child.port}`,
    warmupMs: options.warmupMs,
    measureMs: options.measureMs,
    snapshot: balancerWindow(child, backends),
    onTick: (tick) => progress.update(describeTick(tick)),
  });
  await stopWatcher();
  const final = await child.snapshot();
  // A graceful stop: each listener thread writes out its last access-log lines first.
  await stopChild();

  let accessLog: VariantRound['accessLog'] = null;
  if (variant === 'access-log') {
    const { lines, bytes } = await countLines(logFile);
    accessLog = { lines, bytes, requests: final.listeners.reduce((sum, listener) => sum + listener.requests, 0) };
    await rm(logFile, { force: true });
  }

  const breakdown = cpuBreakdown(run.before, run.after, run.generatorCpuPerThreadMicros, run.requests, run.seconds, options.availableCores);
  const cpu = breakdown.balancer;
  if (!cpu) throw new Error('no balancer CPU figures for the measured window');
  return {
    round,
    requests: run.requests,
    seconds: run.seconds,
    balancerMicros: cpu.micros,
    listenerMicros: cpu.listenerMicrosPerRequest * run.requests,
    mainThreadMicros: cpu.mainThreadMicrosPerRequest * run.requests,
    errorCount: run.errorCount,
    errors: run.errors,
    otherProcessesCores: breakdown.otherProcessesCores,
    watched,
    accessLog,
  };
}

function pooled(variant: Variant, rounds: readonly VariantRound[]): VariantResult {
  const sum = (pick: (r: VariantRound) => number): number => rounds.reduce((total, r) => total + pick(r), 0);
  const requests = sum((r) => r.requests);
  const perRequest = (micros: number): number => micros / Math.max(1, requests);
  return {
    variant,
    label: VARIANT_LABELS[variant],
    rounds,
    requests,
    requestsPerSecond: requests / Math.max(1e-9, sum((r) => r.seconds)),
    balancerMicrosPerRequest: perRequest(sum((r) => r.balancerMicros)),
    listenerMicrosPerRequest: perRequest(sum((r) => r.listenerMicros)),
    mainThreadMicrosPerRequest: perRequest(sum((r) => r.mainThreadMicros)),
    otherThreadsMicrosPerRequest: perRequest(sum((r) => r.balancerMicros - r.listenerMicros - r.mainThreadMicros)),
    mainThreadMillisPerSecond: sum((r) => r.mainThreadMicros) / 1000 / Math.max(1e-9, sum((r) => r.seconds)),
  };
}

/** Newlines and bytes of a file, read as a stream (it can be tens of MB). */
async function countLines(file: string): Promise<{ lines: number; bytes: number }> {
  let lines = 0;
  let bytes = 0;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines++;
  }
  return { lines, bytes };
}
