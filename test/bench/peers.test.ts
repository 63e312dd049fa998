/**
 * @module The peers bench's parts that need no nginx: wrk's report read into figures
 * (its text is the only interface wrk has), the medians and same-round ratios, and the
 * flags that select the section.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseBenchArgs, UsageError } from '../../bench/options.ts';
import { summarisePeers, peersTargets } from '../../bench/peers/peers-report.ts';
import type { PeerRun, PeersSection } from '../../bench/peers/peers-section.ts';
import { parseWrkOutput } from '../../bench/peers/wrk.ts';

const WRK_REPORT = `Running 8s test @ http://127.0.0.1:40000/
  2 threads and 1000 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    41.02ms   80.12ms   1.99s    97.12%
    Req/Sec    12.31k     1.20k   14.02k    70.00%
  Latency Distribution
     50%  850.00us
     75%   40.11ms
     90%   51.00ms
     99%    3.51s
  196000 requests in 8.02s, 29.10MB read
  Socket errors: connect 0, read 2, write 0, timeout 27
  Non-2xx or 3xx responses: 5
Requests/sec:  24439.00
Transfer/sec:      3.63MB
`;

test('wrk report: requests, seconds, p50/p99 in any unit, socket errors and bad statuses', () => {
  const figures = parseWrkOutput(WRK_REPORT);
  assert.equal(figures.requests, 196_000);
  assert.equal(figures.seconds, 8.02);
  assert.equal(figures.p50Ms, 0.85);
  assert.equal(figures.p99Ms, 3510);
  assert.deepEqual(figures.socketErrors, { connect: 0, read: 2, write: 0, timeout: 27 });
  assert.equal(figures.badStatus, 5);
});

test('wrk report without errors: every error count is 0; without --latency: refused', () => {
  const clean = WRK_REPORT.replace(/ {2}Socket errors.*\n {2}Non-2xx.*\n/, '');
  assert.deepEqual(parseWrkOutput(clean).socketErrors, { connect: 0, read: 0, write: 0, timeout: 0 });
  assert.equal(parseWrkOutput(clean).badStatus, 0);
  assert.throws(() => parseWrkOutput(clean.replace(/ {2}Latency Distribution[\s\S]*?99%.*\n/, '')), /% latency \(was it run with --latency\?\)/);
});

function run(round: number, requestsPerSecond: number, cpuMicrosPerRequest: number, p99Ms: number): PeerRun {
  const errors = { connect: 0, read: 0, write: 0, timeout: 0 };
  return { round, requests: requestsPerSecond, seconds: 1, requestsPerSecond, p50Ms: 1, p99Ms, socketErrors: errors, badStatus: 0, cpuMicros: 0, cpuMicrosPerRequest, kernel: null, otherProcessesCores: 0 };
}

test('ratios are taken against nginx in the same round, then the median over the rounds', () => {
  const section: PeersSection = {
    skipped: null,
    options: { connections: [50], rounds: 3, warmupMs: 1, durationMs: 1, loadThreads: 1 },
    loadGenerator: 'test',
    kernelCounters: false,
    contenders: [
      { key: 'nginx', name: 'nginx, 1 worker', skipped: null },
      { key: 'switchyard-2', name: 'switchyard --threads 2', skipped: null },
    ],
    results: [
      {
        connections: 50,
        runs: {
          // The machine slowed down in round 2: both halve; the same-round ratio does not move.
          nginx: [run(1, 20_000, 20, 2), run(2, 10_000, 40, 4), run(3, 20_000, 20, 2)],
          'switchyard-2': [run(1, 16_000, 30, 3), run(2, 8_000, 60, 6), run(3, 10_000, 50, 5)],
        },
      },
    ],
  };
  const [summary] = summarisePeers(section);
  const switchyard = summary?.contenders.find((c) => c.key === 'switchyard-2');
  assert.equal(switchyard?.requestsPerSecond, 10_000);
  assert.equal(switchyard?.vsReference?.requestsPerSecond, 0.8);
  assert.equal(switchyard?.vsReference?.cpuPerRequest, 1.5);
  assert.equal(switchyard?.vsReference?.p99, 1.5);
  const verdicts = Object.fromEntries(peersTargets(summarisePeers(section)).map((t) => [t.name, t.verdict]));
  assert.deepEqual(verdicts, {
    'switchyard --threads 2: CPU/request vs nginx (50 conns)': 'PASS',
    'switchyard --threads 2: req/s vs nginx (50 conns)': 'PASS',
    'switchyard --threads 2: p99 vs nginx (50 conns)': 'PASS',
  });
});

test('--peers runs the peers section alone, with its own defaults; a list of connections is only for it', () => {
  const parsed = parseBenchArgs(['--peers']);
  assert.equal(parsed.kind, 'run');
  if (parsed.kind !== 'run') return;
  assert.deepEqual(parsed.options.sections, ['peers']);
  assert.deepEqual(parsed.options.peers, { connections: [50, 1000], durationMs: 8000, warmupMs: 2000, rounds: 3 });
  const plain = parseBenchArgs([]);
  assert.ok(plain.kind === 'run' && !plain.options.sections.includes('peers'));
  const quick = parseBenchArgs(['--quick']);
  assert.ok(quick.kind === 'run' && !quick.options.sections.includes('peers'));
  assert.throws(() => parseBenchArgs(['--connections', '50,1000']), UsageError);
  assert.throws(() => parseBenchArgs(['--peers', '--rounds', '0']), UsageError);
});
