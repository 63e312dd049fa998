/**
 * @module The tables of sections 5 and 6 (one backend slow; one backend dead then
 * revived) and their one correctness check: no client saw an error.
 */
import { fixed, int, percent, ratio, table, wrap, type TargetResult } from '../report.ts';
import type { DeadBackendSection } from './dead-backend.ts';
import { SCENARIO_PATHS } from './scenario.ts';
import type { SlowBackendSection } from './slow-backend.ts';

/** The algorithms that read the backends' load; the others spread by count. */
const LOAD_AWARE = new Set(['least-connections', 'power-of-two', 'ewma']);

const port = (origin: string): string => `:${new URL(origin).port}`;
const ms = (value: number | null): string => (value === null ? 'never' : `${Math.round(value)} ms`);

export function slowBackendReport(section: SlowBackendSection): string {
  const first = section.runs[0];
  if (!first) return '  (no run)';
  const headers = ['algorithm', 'req/s', 'p50 ms', 'p99 ms', ...first.backends.map((b) => `${port(b.origin)}${b.slow ? ' (slow)' : ''}`), 'errors'];
  const rows = section.runs.map((run) => [
    run.algorithm,
    int(run.requestsPerSecond),
    fixed(run.latencyMs.p50, 2),
    fixed(run.latencyMs.p99, 2),
    ...run.backends.map((b) => `${percent(b.share)} ${int(b.requests).padStart(7)}`),
    int(run.errorCount),
  ]);
  const slowShare = (algorithm: string): number | undefined => section.runs.find((r) => r.algorithm === algorithm)?.backends.find((b) => b.slow)?.share;
  const roundRobin = slowShare('round-robin');
  const comparisons = section.runs
    .filter((run) => run.algorithm !== 'round-robin')
    .map((run) => {
      const share = slowShare(run.algorithm) ?? Number.NaN;
      return `${run.algorithm} ${roundRobin === undefined || share === 0 ? percent(share) : `${ratio(roundRobin / share)} fewer`}`;
    });
  return [
    wrap(
      `${section.backendCount} backends, the last one answering every request ${section.delayMs} ms late; a fresh balancer (${section.threads} listener ` +
        `thread${section.threads === 1 ? '' : 's'}) per algorithm; the same generator: ${section.connections} keep-alive connections from ` +
        `${section.loadThreads} load thread${section.loadThreads === 1 ? '' : 's'}, GETs over ${int(SCENARIO_PATHS)} paths (consistent-hash hashes the path). ` +
        `Measured ${section.measureMs / 1000} s after a ${section.warmupMs / 1000} s warm-up; per backend, the share of the attempts the balancer sent there in that window (and how many):`,
    ),
    '',
    table(headers, rows),
    '',
    wrap(
      `Requests to the slow backend, against round robin (${roundRobin === undefined ? 'not run' : percent(roundRobin)}): ${comparisons.join('; ')}. ` +
        `${[...LOAD_AWARE].join(', ')} read the backends' load (in-flight counts, latency), so they should send it far fewer; random and ` +
        'consistent-hash spread by count or key, like round robin.',
    ),
  ].join('\n');
}

export function deadBackendReport(section: DeadBackendSection): string {
  const rows = section.runs.map((run) => [
    run.algorithm,
    int(run.errorCount),
    ms(run.ejectMs),
    ms(run.rejoinMs),
    int(run.ejections),
    int(run.failedAttempts),
    int(run.retries),
    int(run.retriesRefused),
    `${int(run.requestsBeforeKill)} / ${int(run.requestsAfterRejoin)}`,
    fixed(run.latencyMs.p50, 2),
    fixed(run.latencyMs.p99, 2),
  ]);
  return [
    wrap(
      `${section.backendCount} backends under the same generator (${section.connections} keep-alive connections, GETs); ${section.killAfterMs / 1000} s into the ` +
        `measured window one is killed (it stops listening and resets its connections), stays dead ${section.deadMs / 1000} s, and comes back on the same port; ` +
        `a fresh balancer (${section.threads} listener thread${section.threads === 1 ? '' : 's'}, --eject-after ${section.ejectAfter}, ` +
        `--eject-time ${section.ejectTimeMs} ms) per algorithm; after the rejoin, ${section.tailMs / 1000} s more load:`,
    ),
    '',
    table(
      ['algorithm', 'client errors', 'kill -> ejected', 'revival -> rejoined', 'ejections', 'failed attempts', 'retries', 'refused', 'dead one: before / after', 'p50 ms', 'p99 ms'],
      rows,
    ),
    '',
    wrap(
      '"client errors": every non-2xx answer or transport error the generator saw, warm-up included (must be 0: a GET that failed at the dead backend ' +
        'is retried on another). "kill -> ejected": from the moment the backend dropped its connections to the moment the balancer\'s main thread saw the ' +
        'slot ejected in shared state; "revival -> rejoined": from listening again to the slot back in rotation (the trial request that ends an ' +
        'ejection succeeded). Each failed trial while dead ejects it again for twice as long ("ejections"), so the rejoin waits for the ejection running at ' +
        'the revival to end. "failed attempts": attempts that failed at the dead backend, retried elsewhere ("retries") unless the shared retry budget (at most ' +
        'max(3, 20% of the requests in flight) retries at once) refused it ("refused": that request gets a 502); "before / after": requests ' +
        'the dead backend was sent in the window before the kill and after the rejoin.',
    ),
  ].join('\n');
}

/** Errors are the one correctness figure of both scenarios: none may reach a client. */
export function scenarioTargets(name: string, runs: ReadonlyArray<{ algorithm: string; errorCount: number; errors: Record<string, number> }>): {
  targets: TargetResult[];
  failures: string[];
  notes: string[];
} {
  const errors = runs.reduce((sum, run) => sum + run.errorCount, 0);
  const failing = runs.filter((run) => run.errorCount > 0);
  return {
    targets: [{ name: `Client errors, ${name} (${runs.length} algorithms)`, measured: int(errors), target: '0', verdict: errors === 0 ? 'PASS' : 'FAIL' }],
    failures: errors === 0 ? [] : [`${int(errors)} client error${errors === 1 ? '' : 's'} with ${name}`],
    notes: failing.map((run) => `Errors with ${name}, ${run.algorithm}: ${JSON.stringify(run.errors)}.`),
  };
}
