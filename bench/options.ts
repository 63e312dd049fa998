/**
 * @module The bench's command line (`npm run bench -- [flags]`), parsed and checked once.
 * A bad flag becomes a `UsageError` whose one-line message names the flag, the
 * value and what is allowed; run.ts prints it and exits with code 2.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { backendOrigin, describeParseError, duration, integer, UsageError } from '../src/config/flag-values.ts';

export { UsageError };

/** Load runs last at least 100 ms (a shorter one measures only its own start-up) and at most 10 minutes. */
const BENCH_DURATIONS = { minMs: 100, maxMs: 600_000 };

/** The sections of a plain run (and of --quick). */
export const SECTIONS = ['race', 'picker', 'load', 'slow', 'dead', 'undici', 'observability'] as const;
/** Sections that run only when asked for: they need programs from outside the project. */
export const EXTRA_SECTIONS = ['peers'] as const;
export type Section = (typeof SECTIONS)[number] | (typeof EXTRA_SECTIONS)[number];
const ALL_SECTIONS: readonly Section[] = [...SECTIONS, ...EXTRA_SECTIONS];

/** The peers section (switchyard beside nginx and HAProxy): its own defaults, as the issue measured. */
const PEERS_DEFAULTS = {
  full: { connections: [50, 1_000], durationMs: 8_000, warmupMs: 2_000, rounds: 3 },
  quick: { connections: [50, 1_000], durationMs: 2_000, warmupMs: 1_000, rounds: 1 },
} as const;

export interface PeersBenchOptions {
  /** One run per connection count, each with every contender. */
  readonly connections: readonly number[];
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly rounds: number;
}

export interface BenchOptions {
  readonly quick: boolean;
  readonly json: string | null;
  readonly sections: readonly Section[];
  /** Measured window of each load run. */
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly connections: number;
  /** Listener threads of the "N threads" balancer run. */
  readonly threads: number;
  readonly backendCount: number;
  readonly backendUrls: readonly string[];
  readonly loadThreads: number;
  readonly cpuProfDir: string | null;
  readonly cores: number;
  readonly peers: PeersBenchOptions;
}

export const BENCH_USAGE = `Usage: npm run bench -- [flags]     (or node bench/run.ts [flags])

Measures switchyard: the race its shared state avoids, select() per algorithm, the
distribution under concurrent load, what the balancer costs per request, and each
algorithm with one backend slow and with one backend dead then revived, and what
watching it costs (/metrics scraped, /events open, the access log).

  --quick             a short run of every section (CI: checks exactness, not speed)
  --json FILE         also write every figure to FILE (with Node version, CPU count)
  --duration T        measured time of each load run, like 10s or 500ms  [10s; quick 2s; peers 8s]
  --warmup T          warm-up before each measured load run              [5s; quick 1s; peers 2s]
                      (the slow, dead and observability sections have their own timings)
  --connections N     keep-alive connections of the load generator      [64; peers 50,1000]
                      (--peers takes a list, like 50,1000: one run of every contender each)
  --threads N         listener threads of the N-thread balancer run     [CPUs: ${availableParallelism()}]
  --backends N        demo backends of the load section, worker threads [2]
  --backend URL       an external backend instead (repeatable), e.g. http://127.0.0.1:9001
                      (the slow and dead scenarios always start their own three)
  --load-threads N    load generator threads (piscina)                  [CPUs / 2, at least 1]
  --cpu-prof DIR      profile each balancer process (node --cpu-prof) into DIR and print
                      its hot spots; its figures are then inflated by the profiler
  --only LIST         run only these sections: ${ALL_SECTIONS.join(', ')}
  --peers             switchyard side by side with nginx and HAProxy (needs nginx; haproxy
                      and wrk when installed), alone unless --only names more sections;
                      never part of a plain or --quick run
  --rounds N          rounds of the peers section, contenders alternating  [3; quick 1]
  --help              this text

Exit codes: 0 done (targets missed are reported, not failed), 1 a correctness check
failed (round robin or /metrics not exact, a request errored in any load run or
scenario, an access log incomplete) or the bench itself failed (a peer that did not
start or failed its sanity check included), 2 bad flag.`;

const FLAGS = {
  quick: { type: 'boolean' },
  json: { type: 'string' },
  duration: { type: 'string' },
  warmup: { type: 'string' },
  connections: { type: 'string' },
  threads: { type: 'string' },
  backends: { type: 'string' },
  backend: { type: 'string', multiple: true },
  'load-threads': { type: 'string' },
  'cpu-prof': { type: 'string' },
  only: { type: 'string' },
  peers: { type: 'boolean' },
  rounds: { type: 'string' },
  help: { type: 'boolean' },
} as const;

export type ParsedBench = { readonly kind: 'help' } | { readonly kind: 'run'; readonly options: BenchOptions };

export function parseBenchArgs(argv: readonly string[]): ParsedBench {
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], options: FLAGS, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError(describeParseError(error));
  }
  if (values.help) return { kind: 'help' };

  const quick = values.quick === true;
  const cores = availableParallelism();
  const backendUrls = (values.backend ?? []).map((url) => backendOrigin(url));
  const twice = backendUrls.find((url, i) => backendUrls.indexOf(url) !== i);
  if (twice !== undefined) throw new UsageError(`--backend ${twice} is given twice; each backend may appear once`);
  if (backendUrls.length > 0 && values.backends !== undefined) {
    throw new UsageError(`--backends ${values.backends} cannot be combined with --backend: external backends replace the embedded ones`);
  }
  const selected = selectSections(values.only, values.peers === true);
  const peersOnly = selected.length === 1 && selected[0] === 'peers';
  const connectionList = values.connections?.split(',').map((n) => integer('--connections', n.trim(), 0, 1, 100_000));
  if (connectionList !== undefined && connectionList.length > 1 && !peersOnly) {
    throw new UsageError(`--connections ${values.connections} is a list: only --peers (alone) takes one; the other sections take one number`);
  }
  if (values.rounds !== undefined && !selected.includes('peers')) throw new UsageError(`--rounds ${values.rounds} is for the peers section only; add --peers`);
  const connections = connectionList?.[0] ?? 64;
  const loadThreads = integer('--load-threads', values['load-threads'], Math.max(1, Math.floor(cores / 2)), 1, 64);
  if (connections < loadThreads) {
    throw new UsageError(`--connections ${connections} is fewer than --load-threads ${loadThreads}: each load thread needs at least one connection`);
  }
  const options: BenchOptions = {
    quick,
    json: values.json ?? null,
    sections: selected,
    durationMs: duration('--duration', values.duration, quick ? 2_000 : 10_000, BENCH_DURATIONS),
    warmupMs: duration('--warmup', values.warmup, quick ? 1_000 : 5_000, BENCH_DURATIONS),
    connections,
    threads: integer('--threads', values.threads, cores, 1, 256),
    backendCount: integer('--backends', values.backends, 2, 1, 64),
    backendUrls,
    loadThreads,
    cpuProfDir: values['cpu-prof'] ?? null,
    cores,
    peers: peersOptions(quick, connectionList, values.duration, values.warmup, values.rounds),
  };
  if (options.json === '') throw new UsageError('--json needs a file name');
  return { kind: 'run', options: Object.freeze(options) };
}

/** --only's sections (peers among them if named), plus peers with --peers; --peers
 * alone runs the peers section alone. */
function selectSections(raw: string | undefined, peers: boolean): readonly Section[] {
  let names: readonly string[] = peers ? [] : SECTIONS;
  if (raw !== undefined) {
    names = raw.split(',').map((name) => name.trim());
    const unknown = names.find((name) => !ALL_SECTIONS.some((section) => section === name));
    if (unknown !== undefined) throw new UsageError(`--only ${JSON.stringify(raw)} is not allowed: ${JSON.stringify(unknown)} is not one of ${ALL_SECTIONS.join(', ')}`);
  }
  return ALL_SECTIONS.filter((section) => names.includes(section) || (peers && section === 'peers'));
}

function peersOptions(quick: boolean, connections: readonly number[] | undefined, rawDuration: string | undefined, rawWarmup: string | undefined, rawRounds: string | undefined): PeersBenchOptions {
  const defaults = PEERS_DEFAULTS[quick ? 'quick' : 'full'];
  return {
    connections: connections ?? defaults.connections,
    durationMs: duration('--duration', rawDuration, defaults.durationMs, BENCH_DURATIONS),
    warmupMs: duration('--warmup', rawWarmup, defaults.warmupMs, BENCH_DURATIONS),
    rounds: integer('--rounds', rawRounds, defaults.rounds, 1, 15),
  };
}
