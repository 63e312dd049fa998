/**
 * @module wrk as the peers section's load generator: one run against a URL
 * (`wrk -t2 -c N -d T --latency --timeout 5s`), and its report parsed into figures:
 * requests, seconds, p50/p99 from the latency distribution, socket errors and
 * non-2xx/3xx answers.
 */
import type { Cleanup } from '../cleanup.ts';
import type { LoadFigures, SocketErrors } from './load-figures.ts';
import { Spawned } from './spawned.ts';

/** wrk's threads (it needs at least one connection per thread). */
const WRK_THREADS = 2;
/** A request not answered in this long is counted as a timeout (wrk's default is 2 s;
 * 5 s, as in the figures, shows SYN retries as latency rather than errors). */
const WRK_TIMEOUT = '5s';

export interface WrkRun {
  readonly binary: string;
  readonly url: string;
  readonly connections: number;
  /** wrk takes whole seconds; at least 1. */
  readonly seconds: number;
  readonly cleanup: Cleanup;
}

export async function runWrk({ binary, url, connections, seconds, cleanup }: WrkRun): Promise<LoadFigures> {
  const threads = Math.min(WRK_THREADS, connections);
  const args = ['-t', String(threads), '-c', String(connections), '-d', `${seconds}s`, '--timeout', WRK_TIMEOUT, '--latency', url];
  const { spawned, stop } = Spawned.start({ label: 'wrk', file: binary, args }, cleanup);
  const code = await spawned.exited;
  await stop();
  if (code !== 0) throw new Error(`wrk ${args.join(' ')} exited with code ${code}: ${spawned.output}`);
  return parseWrkOutput(spawned.output);
}

/** The figures of wrk's report (its text, as printed with --latency). */
export function parseWrkOutput(text: string): LoadFigures {
  const done = /(\d+) requests in ([\d.]+)(us|ms|s|m|h)\b/.exec(text);
  if (!done) throw new Error(`wrk's report has no "N requests in T" line:\n${text}`);
  const requests = Number(done[1]);
  const seconds = toMs(Number(done[2]), done[3] ?? 's') / 1000;
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const socketErrors: SocketErrors = {
    connect: Number(socket?.[1] ?? 0),
    read: Number(socket?.[2] ?? 0),
    write: Number(socket?.[3] ?? 0),
    timeout: Number(socket?.[4] ?? 0),
  };
  return {
    requests,
    seconds,
    requestsPerSecond: requests / seconds,
    p50Ms: percentile(text, 50),
    p99Ms: percentile(text, 99),
    socketErrors,
    badStatus: Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0),
  };
}

function percentile(text: string, p: number): number {
  const line = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(text);
  if (!line) throw new Error(`wrk's report has no ${p}% latency (was it run with --latency?):\n${text}`);
  return toMs(Number(line[1]), line[2] ?? 'ms');
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function toMs(value: number, unit: string): number {
  const scale = UNIT_MS[unit];
  if (scale === undefined) throw new Error(`wrk printed a time in an unknown unit: ${value}${unit}`);
  return value * scale;
}
