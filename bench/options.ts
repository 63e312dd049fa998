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

export const SECTIONS = ['race', 'picker', 'load', 'slow', 'dead', 'undici', 'observability'] as const;
export type Section = (typeof SECTIONS)[number];

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
}

export const BENCH_USAGE = `Usage: npm run bench -- [flags]     (or node bench/run.ts [flags])

Measures switchyard: the race its shared state avoids, select() per algorithm, the
distribution under concurrent load, what the balancer costs per request, and each
algorithm with one backend slow and with one backend dead then revived, and what
watching it costs (/metrics scraped, /events open, the access log).

  --quick             a short run of every section (CI: checks exactness, not speed)
  --json FILE         also write every figure to FILE (with Node version, CPU count)
  --duration T        measured time of each load run, like 10s or 500ms  [10s; quick 2s]
  --warmup T          warm-up before each measured load run              [5s; quick 1s]
                      (the slow, dead and observability sections have their own timings)
  --connections N     keep-alive connections of the load generator      [64]
  --threads N         listener threads of the N-thread balancer run     [CPUs: ${availableParallelism()}]
  --backends N        demo backends of the load section, worker threads [2]
  --backend URL       an external backend instead (repeatable), e.g. http://127.0.0.1:9001
                      (the slow and dead scenarios always start their own three)
  --load-threads N    load generator threads (piscina)                  [CPUs / 2, at least 1]
  --cpu-prof DIR      profile each balancer process (node --cpu-prof) into DIR and print
                      its hot spots; its figures are then inflated by the profiler
  --only LIST         run only these sections: ${SECTIONS.join(', ')}
  --help              this text

Exit codes: 0 done (targets missed are reported, not failed), 1 a correctness check
failed (round robin or /metrics not exact, a request errored in any load run or
scenario, an access log incomplete) or the bench itself failed, 2 bad flag.`;

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
  const connections = integer('--connections', values.connections, 64, 1, 100_000);
  const loadThreads = integer('--load-threads', values['load-threads'], Math.max(1, Math.floor(cores / 2)), 1, 64);
  if (connections < loadThreads) {
    throw new UsageError(`--connections ${connections} is fewer than --load-threads ${loadThreads}: each load thread needs at least one connection`);
  }
  const options: BenchOptions = {
    quick,
    json: values.json ?? null,
    sections: sections(values.only),
    durationMs: duration('--duration', values.duration, quick ? 2_000 : 10_000, BENCH_DURATIONS),
    warmupMs: duration('--warmup', values.warmup, quick ? 1_000 : 5_000, BENCH_DURATIONS),
    connections,
    threads: integer('--threads', values.threads, cores, 1, 256),
    backendCount: integer('--backends', values.backends, 2, 1, 64),
    backendUrls,
    loadThreads,
    cpuProfDir: values['cpu-prof'] ?? null,
    cores,
  };
  if (options.json === '') throw new UsageError('--json needs a file name');
  return { kind: 'run', options: Object.freeze(options) };
}

function sections(raw: string | undefined): readonly Section[] {
  if (raw === undefined) return SECTIONS;
  const names = raw.split(',').map((name) => name.trim());
  const unknown = names.find((name) => !SECTIONS.some((section) => section === name));
  if (unknown !== undefined) throw new UsageError(`--only ${JSON.stringify(raw)} is not allowed: ${JSON.stringify(unknown)} is not one of ${SECTIONS.join(', ')}`);
  return SECTIONS.filter((section) => names.includes(section));
}
