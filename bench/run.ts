/**
 * @module `npm run bench`: the entry of switchyard's benchmarks. Parses the flags, runs
 * each section with a progress display on stderr, prints its tables on stdout as soon as
 * it is done, then the targets, and writes every figure to --json. Exits 1 when a
 * correctness check fails (round robin or /metrics not exact, a request errored in a
 * load run or a scenario, an access log incomplete), never for speed.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { ALGORITHMS } from '../src/routing/algorithms/names.ts';
import { Cleanup } from './cleanup.ts';
import { runLoadSection, type LoadSection } from './load/load-section.ts';
import { runObservabilityCost, type ObservabilitySection } from './load/observability-cost.ts';
import { observabilityReport, observabilityTargets } from './load/observability-report.ts';
import { runDeadBackend, type DeadBackendSection } from './load/dead-backend.ts';
import { costReport, distributionReport, loadTargets } from './load/load-report.ts';
import { deadBackendReport, scenarioTargets, slowBackendReport } from './load/scenario-report.ts';
import { runSlowBackend, type SlowBackendSection } from './load/slow-backend.ts';
import { BENCH_USAGE, UsageError, parseBenchArgs, type BenchOptions } from './options.ts';
import { peersHeading, peersNotes, peersSkipped, peersTable, peersTargets, summarisePeers, type PeersSummary } from './peers/peers-report.ts';
import { runPeersSection, type PeersSection } from './peers/peers-section.ts';
import { runPickerBench, pickerTable, type PickerBenchResult } from './picker.bench.ts';
import { profileTable, summariseProfiles, type ProfileSummary } from './profile.ts';
import { Progress } from './progress.ts';
import { raceTable, runRace, type RaceSection } from './race.ts';
import { heading, targetLines, wrap, type TargetResult } from './report.ts';
import { runUndiciApiBench, undiciApiTable, type UndiciApiResult } from './undici-api.bench.ts';

const EXIT = { OK: 0, CHECK_FAILED: 1, USAGE: 2, INTERRUPTED: 130 } as const;
/** If something still holds the process open this long after cleanup, say what and exit. */
const EXIT_WATCHDOG_MS = 10_000;
/** Each slow backend's answers come this late. */
const SLOW_DELAY_MS = 30;
const SCENARIO_BACKENDS = 3;
/** Timings of the two scenarios (each runs once per algorithm). */
const SLOW_TIMINGS = { quick: { warmupMs: 500, measureMs: 1_000 }, full: { warmupMs: 2_000, measureMs: 5_000 } } as const;
/** The observability section: a fresh balancer per variant (four), each warmed up, per round. */
const OBSERVABILITY_TIMINGS = {
  quick: { warmupMs: 500, measureMs: 1_500, rounds: 1, accessLogLines: 50_000 },
  full: { warmupMs: 1_500, measureMs: 4_000, rounds: 5, accessLogLines: 300_000 },
} as const;
const DEAD_TIMINGS = {
  quick: { warmupMs: 300, killAfterMs: 300, deadMs: 600, rejoinWaitMs: 2_000, tailMs: 300, ejectTimeMs: 250 },
  full: { warmupMs: 1_000, killAfterMs: 1_000, deadMs: 3_000, rejoinWaitMs: 5_000, tailMs: 1_000, ejectTimeMs: 500 },
} as const;

interface Results {
  bench: 'switchyard';
  startedAt: string;
  node: string;
  v8: string;
  platform: string;
  arch: string;
  cpus: number;
  cpuModel: string;
  options: BenchOptions;
  wallSeconds?: number;
  race?: RaceSection;
  picker?: PickerBenchResult;
  load?: LoadSection;
  profiles?: Record<string, ProfileSummary>;
  slowBackend?: SlowBackendSection;
  deadBackend?: DeadBackendSection;
  undiciApi?: UndiciApiResult;
  observability?: ObservabilitySection;
  peers?: PeersSection & { summary: PeersSummary[] };
  targets: TargetResult[];
  notes: string[];
  failures: string[];
}

function parse(): BenchOptions | null {
  try {
    const parsed = parseBenchArgs(process.argv.slice(2));
    if (parsed.kind === 'help') {
      console.log(BENCH_USAGE);
      return null;
    }
    return parsed.options;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`bench: ${error.message}`);
    process.exitCode = EXIT.USAGE;
    return null;
  }
}

async function main(options: BenchOptions): Promise<void> {
  const started = performance.now();
  const progress = new Progress();
  const cleanup = new Cleanup();
  const results: Results = {
    bench: 'switchyard',
    startedAt: new Date().toISOString(),
    node: process.version,
    v8: process.versions.v8,
    platform: process.platform,
    arch: process.arch,
    cpus: options.cores,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    options,
    targets: [],
    notes: [],
    failures: [],
  };
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
    progress.end();
    console.error('bench: interrupted; stopping every thread, server and child process');
    void cleanup.runAll((line) => console.error(`bench: ${line}`)).then(() => process.exit(EXIT.INTERRUPTED));
  });

  const has = (section: BenchOptions['sections'][number]): boolean => options.sections.includes(section);
  const total = options.sections.length;
  let done = 0;
  const title = (name: string): string => `[${++done}/${total}] ${name}`;
  console.log(
    `switchyard bench (${options.quick ? 'quick' : 'full'} run): Node ${process.version}, ${options.cores} CPUs (${results.cpuModel}), ${process.platform}/${process.arch}`,
  );

  try {
    if (has('race')) {
      progress.step(title('race: plain vs atomic increments, then concurrent picks'));
      const threads = Math.max(4, options.cores);
      const race = await runRace(
        { threads, incrementsPerThread: options.quick ? 500_000 : 2_000_000, picksPerThread: options.quick ? 300_000 : 1_200_000 },
        (text) => progress.update(text),
      );
      results.race = race;
      console.log(heading(1, 'The race, made visible'));
      console.log(raceTable(race));
      const exact = race.roundRobin.exact && race.roundRobin.foldCrossedExactly;
      results.targets.push({
        name: 'Round robin (Selector) exact under a thread race',
        measured: exact ? 'exact' : 'NOT exact',
        target: 'deviation 0, no ticket repeated',
        verdict: exact ? 'PASS' : 'FAIL',
      });
      if (!exact) results.failures.push('round robin was not exact when threads raced');
    }

    if (has('picker')) {
      progress.step(title('picker cost (tinybench)'));
      const picker = await runPickerBench(
        { timeMs: options.quick ? 200 : 1_000, spinners: Math.max(1, options.cores - 1) },
        (text) => progress.update(text),
      );
      results.picker = picker;
      console.log(heading(2, 'Picker cost: select() per algorithm (tinybench, this thread; contended: every other core picks on the same state)'));
      console.log(pickerTable(picker));
    }

    if (has('load')) {
      progress.step(title('load: direct, then through the balancer with 1 and N listener threads'));
      const load = await runLoadSection(
        {
          warmupMs: options.warmupMs,
          measureMs: options.durationMs,
          connections: options.connections,
          loadThreads: options.loadThreads,
          threads: options.threads,
          backendCount: options.backendCount,
          backendUrls: options.backendUrls,
          availableCores: options.cores,
          cpuProfDir: options.cpuProfDir,
        },
        progress,
        cleanup,
      );
      results.load = load;
      console.log(heading(3, 'Distribution under concurrent load'));
      console.log(distributionReport(load));
      console.log(heading(4, 'Cost of the balancer'));
      console.log(costReport(load));
      const { targets, notes, failures } = loadTargets(load);
      results.targets.push(...targets);
      results.notes.push(...notes);
      results.failures.push(...failures);

      const profiled = load.scenarios.filter((s) => s.cpuProfDir !== null);
      if (profiled.length > 0) {
        results.profiles = {};
        for (const s of profiled) {
          const summary = summariseProfiles(s.cpuProfDir ?? '');
          results.profiles[s.name] = summary;
          console.log(heading('4b', `CPU profile of the ${s.name} (${summary.files} threads, ${Math.round(summary.busyMs)} ms busy; ${s.cpuProfDir})`));
          console.log(profileTable(summary));
        }
        results.notes.push('This run was profiled (--cpu-prof): the balancer figures above include the profiler\'s own cost.');
      }
    }

    const scenario = {
      connections: options.connections,
      loadThreads: options.loadThreads,
      threads: options.threads,
      algorithms: ALGORITHMS,
      backendCount: SCENARIO_BACKENDS,
    };
    if (has('slow')) {
      progress.step(title(`one backend slow, each algorithm (${ALGORITHMS.length})`));
      const slow = await runSlowBackend({ ...scenario, ...SLOW_TIMINGS[options.quick ? 'quick' : 'full'], delayMs: SLOW_DELAY_MS }, progress, cleanup);
      results.slowBackend = slow;
      console.log(heading(5, `One backend slow (+${SLOW_DELAY_MS} ms per answer), each algorithm`));
      console.log(slowBackendReport(slow));
      const checks = scenarioTargets('one backend slow', slow.runs);
      results.targets.push(...checks.targets);
      results.failures.push(...checks.failures);
      results.notes.push(...checks.notes);
    }

    if (has('dead')) {
      progress.step(title(`one backend dead then revived, each algorithm (${ALGORITHMS.length})`));
      const dead = await runDeadBackend({ ...scenario, ...DEAD_TIMINGS[options.quick ? 'quick' : 'full'] }, progress, cleanup);
      results.deadBackend = dead;
      console.log(heading(6, 'One backend dead, then revived, each algorithm'));
      console.log(deadBackendReport(dead));
      const checks = scenarioTargets('one backend dead then revived', dead.runs);
      results.targets.push(...checks.targets);
      results.failures.push(...checks.failures);
      results.notes.push(...checks.notes);
    }

    if (has('undici')) {
      progress.step(title('undici request vs stream vs dispatch (tinybench)'));
      const undiciApi = await runUndiciApiBench(
        { timeMs: options.quick ? 250 : 1_000, concurrency: 16, rounds: options.quick ? 1 : 3 },
        (text) => progress.update(text),
      );
      results.undiciApi = undiciApi;
      console.log(heading(7, 'undici API for the upstream side (one thread relaying small GETs from one backend)'));
      console.log(undiciApiTable(undiciApi));
      const [cheapest] = [...undiciApi.costs].sort((a, b) => a.cpuMicrosPerRequest - b.cpuMicrosPerRequest);
      if (options.quick) console.log(wrap('Quick run: samples too short to rank the APIs; a full run does.'));
      else if (cheapest) console.log(wrap(`Cheapest in CPU per request: ${cheapest.api} (src/upstream/upstream-pools.ts uses dispatch).`));
    }

    if (has('observability')) {
      progress.step(title('what watching the balancer costs: /metrics, /events, access log'));
      const observability = await runObservabilityCost(
        {
          ...OBSERVABILITY_TIMINGS[options.quick ? 'quick' : 'full'],
          connections: options.connections,
          loadThreads: options.loadThreads,
          threads: options.threads,
          backendCount: options.backendCount,
          backendUrls: options.backendUrls,
          availableCores: options.cores,
        },
        progress,
        cleanup,
      );
      results.observability = observability;
      console.log(heading(8, 'What watching the balancer costs it (balancer CPU per request against a baseline, same run)'));
      console.log(observabilityReport(observability));
      const checks = observabilityTargets(observability);
      results.targets.push(...checks.targets);
      results.failures.push(...checks.failures);
      results.notes.push(...checks.notes);
    }

    if (has('peers')) {
      progress.step(title('peers: switchyard beside nginx and HAProxy, same backends, same load'));
      const peers = await runPeersSection({ ...options.peers, loadThreads: options.loadThreads }, progress, cleanup);
      const summary = summarisePeers(peers);
      results.peers = { ...peers, summary };
      console.log(heading(9, `Peers: switchyard beside nginx and HAProxy (load: ${peers.loadGenerator})`));
      if (peers.skipped !== null) console.log(peersSkipped(peers.skipped));
      for (const at of summary) console.log(`${heading(null, peersHeading(peers, at))}\n${peersTable(peers, at)}`);
      results.targets.push(...peersTargets(summary));
      results.notes.push(...peersNotes(peers));
    }
  } catch (error) {
    // After Ctrl-C, whatever was under way fails because its threads are being stopped.
    if (interrupted) return;
    results.failures.push(`the bench failed: ${error instanceof Error ? error.message : String(error)}`);
    progress.end();
    console.error(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  } finally {
    progress.step('stopping every thread, server and child process');
    await cleanup.runAll((line) => progress.note(line));
    progress.end();
  }

  results.wallSeconds = (performance.now() - started) / 1000;
  if (results.targets.length > 0) {
    console.log(heading(null, 'Targets'));
    console.log(targetLines(results.targets));
  }
  for (const note of results.notes) console.log(`\n${wrap(`Note: ${note}`)}`);
  console.log(`\n  Wall time ${results.wallSeconds.toFixed(1)} s.${results.failures.length > 0 ? ` FAILED: ${results.failures.join('; ')}.` : ''}`);
  if (options.json) {
    writeFileSync(options.json, `${JSON.stringify(results, null, 2)}\n`);
    console.log(`  Every figure: ${options.json}`);
  }
  process.exitCode = results.failures.length > 0 ? EXIT.CHECK_FAILED : EXIT.OK;
}

const options = parse();
if (options) {
  await main(options);
  const watchdog = setTimeout(() => {
    console.error(`bench: still not exited ${EXIT_WATCHDOG_MS / 1000}s after stopping everything; open: ${process.getActiveResourcesInfo().join(', ')}`);
    process.exit(process.exitCode ?? EXIT.CHECK_FAILED);
  }, EXIT_WATCHDOG_MS);
  watchdog.unref();
}
