/**
 * @module The tables of sections 3 and 4 (distribution, cost of the balancer) and the
 * load section's targets, from a `LoadSection`.
 */
import { fixed, int, mib, percent, ratio, signed, table, wrap, type TargetResult } from '../report.ts';
import type { LoadSection, Scenario } from './load-section.ts';
import type { MetricsExactness } from './metrics-exactness.ts';

/** RSS that moved less than this over the second half of the load has settled. */
const SETTLED = 0.03;

const growth = (g: number): string => `${g >= 0 ? '+' : ''}${percent(g)}`;

/** Targets from the issue; the bench reports them, it never fails on them. */
export const TARGETS = {
  balancerMicrosPerRequest: 25,
  rssGrowth: 0.2,
} as const;

const balancerRuns = (section: LoadSection): Scenario[] => section.scenarios.filter((s) => s.listenerThreads !== null);
const widest = (section: LoadSection): Scenario | undefined => balancerRuns(section).at(-1);

export function distributionReport(section: LoadSection): string {
  const run = widest(section);
  const d = run?.distribution;
  if (!run || !d) return '  (no balancer run)';
  const backends = table(
    ['backend', 'requests', 'share', 'exact round robin', 'deviation', 'answered (x-backend)'],
    [
      ...d.backends.map((b) => [b.origin, int(b.requests), percent(b.share, 2), int(b.expected), signed(b.deviation), b.answered === null ? 'n/a' : int(b.answered)]),
      ['total', int(d.total), '', '', '', ''],
    ],
  );
  const listeners = table(
    ['listener thread', 'connections', 'requests', 'share of requests'],
    d.listeners.map((l) => [String(l.listener), int(l.connections), int(l.requests), percent(l.share, 2)]),
  );
  const others = balancerRuns(section)
    .filter((s) => s !== run)
    .map((s) => `${s.name}: ${int(s.distribution?.total ?? 0)} requests, ${s.distribution?.exact ? 'exact' : 'NOT exact'}`);
  const conns = d.listeners.map((l) => int(l.connections)).join(' / ');
  const spread =
    d.listeners.length === 1
      ? 'One listener thread took every connection; the backend split is '
      : `The kernel spread the connections ${conns} over the listener threads (reusePort hashes each connection); the backend split is `;
  const errors = section.scenarios.map((s) => `${s.name} ${int(s.errorCount)}`).join(', ');
  return [
    wrap(
      `${run.name}, ${section.connections} keep-alive connections from ${section.loadThreads} load thread${section.loadThreads === 1 ? '' : 's'}, ` +
        `${section.backends.length} ${section.embeddedBackends ? 'worker-thread' : 'external'} backends; every request of the run, warm-up included:`,
    ),
    '',
    backends,
    '',
    listeners,
    '',
    wrap(
      spread +
        `${d.exact ? `exact${d.listeners.length === 1 ? '' : ' anyway'}, because every listener takes its ticket from the one shared counter` : 'NOT exact'}` +
        (d.confirmedByBackends === null ? '.' : d.confirmedByBackends ? ', and the backends\' own answers agree request for request.' : ', and the backends\' answers DISAGREE with the balancer\'s counts.'),
    ),
    ...(others.length > 0 ? [wrap(`Also checked: ${others.join('; ')}.`)] : []),
    wrap(`Errors: ${errors}.`),
    '',
    ...balancerRuns(section).map((s) => wrap(`${s.name}: ${metricsLine(s.metrics)}`)),
  ].join('\n');
}

/** `metrics exact: yes (...)`, or each disagreement. */
function metricsLine(metrics: MetricsExactness | null): string {
  if (metrics === null) return 'metrics exact: not checked';
  if (!metrics.exact) return `metrics exact: NO: ${metrics.mismatches.join('; ')}`;
  const confirmed = metrics.backends.every((b) => b.answered !== null);
  const perBackend = metrics.backends.map((b) => int(b.requestsTotal ?? 0)).join(' / ');
  return (
    `metrics exact: yes. /metrics after the run: switchyard_backend_requests_total ${perBackend}` +
    (confirmed ? ', each equal to its backend\'s own answers, as is its response_seconds_count' : ' (the backends do not name themselves: per backend unconfirmed)') +
    `; switchyard_listener_requests_total adds up to ${int(metrics.listenerRequests)} = the ${int(metrics.responses)} responses the load generator got.`
  );
}

export function costReport(section: LoadSection): string {
  const rows = section.scenarios.map((s) => [
    s.name,
    int(s.requests),
    int(s.requestsPerSecond),
    fixed(s.latencyMs.p50, 2),
    fixed(s.latencyMs.p99, 2),
    s.cpu.balancer ? fixed(s.cpu.balancer.microsPerRequest) : '-',
    s.cpu.balancer ? fixed(s.cpu.balancer.listenerMicrosPerRequest) : '-',
    s.cpu.balancer ? fixed(s.cpu.balancer.otherThreadsMicrosPerRequest + s.cpu.balancer.mainThreadMicrosPerRequest) : '-',
    s.cpu.balancer ? percent(s.cpu.balancer.systemShare, 0) : '-',
    s.cpu.backends ? fixed(s.cpu.backends.microsPerRequest) : 'n/a',
    fixed(s.cpu.generator.microsPerRequest),
  ]);
  const perRequest = table(
    ['run', 'requests', 'req/s', 'p50 ms', 'p99 ms', 'balancer µs/req', 'listeners', 'other threads', 'kernel', 'backends µs/req', 'load gen µs/req'],
    rows,
  );
  const cores = table(
    ['run', 'balancer', 'backends', 'load gen', 'all ours', 'machine busy', 'not ours', 'saturated first'],
    section.scenarios.map((s) => [
      s.name,
      s.cpu.balancer ? fixed(s.cpu.balancer.cores, 2) : '-',
      s.cpu.backends ? fixed(s.cpu.backends.cores, 2) : 'n/a',
      fixed(s.cpu.generator.cores, 2),
      fixed(s.cpu.totalCores, 2),
      s.cpu.machineBusyCores === null ? 'n/a' : fixed(s.cpu.machineBusyCores, 2),
      s.cpu.otherProcessesCores === null ? 'n/a' : fixed(s.cpu.otherProcessesCores, 2),
      s.saturation.first,
    ]),
    ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
  );
  const memory = table(
    ['run', 'RSS after warm-up', 'mid-load', 'after load', 'growth', 'in 2nd half', 'listener heaps: warm-up', 'after load'],
    balancerRuns(section).map((s) => [
      s.name,
      s.memory ? mib(s.memory.rssAfterWarmupBytes) : '-',
      s.memory ? mib(s.memory.rssMidLoadBytes) : '-',
      s.memory ? mib(s.memory.rssAfterLoadBytes) : '-',
      s.memory ? growth(s.memory.growth) : '-',
      s.memory ? growth(s.memory.secondHalfGrowth) : '-',
      s.memory ? mib(s.memory.listenerHeapAfterWarmupBytes) : '-',
      s.memory ? mib(s.memory.listenerHeapAfterLoadBytes) : '-',
    ]),
  );
  const timelines = balancerRuns(section).map((s) =>
    wrap(`${s.name}, RSS in MiB every 2 s from the start of its warm-up: ${(s.memory?.timeline ?? []).filter((_, i) => i % 2 === 1).map((m) => (m.rssBytes / 2 ** 20).toFixed(0)).join(' ')}`, '  ', 110),
  );
  const [direct, one] = section.scenarios;
  const n = widest(section);
  const ratios = [
    one && direct ? `balancer (1 thread) / direct ${ratio(one.requestsPerSecond / direct.requestsPerSecond)}` : null,
    n && n !== one && direct ? `balancer (${n.listenerThreads} threads) / direct ${ratio(n.requestsPerSecond / direct.requestsPerSecond)}` : null,
    n && one && n !== one ? `${n.listenerThreads} threads / 1 thread ${ratio(n.requestsPerSecond / one.requestsPerSecond)}` : null,
  ].filter((r) => r !== null);
  return [
    wrap(
      `Same load generator, same run: ${section.connections} keep-alive connections, small GETs. CPU per request counts the measured ` +
        'window only. "balancer" is its whole process: "listeners" its listener threads, "other threads" its main thread, GC and ' +
        'other helper threads, "kernel" the share of its CPU spent in system calls. The backends and the load generator are counted separately.',
    ),
    '',
    perRequest,
    '',
    `  Throughput ratios: ${ratios.join('; ')}.`,
    '',
    '  Where the CPU went (cores used on average; the machine has ' + String(section.scenarios[0]?.cpu.availableCores ?? '?') + '):',
    '',
    cores,
    '',
    ...section.scenarios.map((s) => wrap(`${s.name}: ${s.saturation.why}.`, '  ', 110)),
    ...(section.scenarios.some((s) => (s.cpu.otherProcessesCores ?? 0) > 0.15)
      ? ['', wrap('Other processes kept the machine busy during some runs ("not ours"): throughput and latency there are skewed; CPU per request much less so.')]
      : []),
    '',
    '  Balancer memory (its process RSS; listener heaps are V8 heap in use, not collected first):',
    '',
    memory,
    '',
    ...timelines,
  ].join('\n');
}

export function loadTargets(section: LoadSection): { targets: TargetResult[]; notes: string[]; failures: string[] } {
  const targets: TargetResult[] = [];
  const notes: string[] = [];
  const failures: string[] = [];
  for (const s of balancerRuns(section)) {
    const cpu = s.cpu.balancer;
    if (!cpu) continue;
    const met = cpu.microsPerRequest <= TARGETS.balancerMicrosPerRequest;
    targets.push({
      name: `Balancer CPU per request, ${s.listenerThreads} thread${s.listenerThreads === 1 ? '' : 's'}`,
      measured: `${fixed(cpu.microsPerRequest)} µs`,
      target: `≤ ${TARGETS.balancerMicrosPerRequest} µs`,
      verdict: met ? 'PASS' : 'MISSED',
    });
    if (!met && s === widest(section)) {
      notes.push(
        `Balancer CPU per request is ${fixed(cpu.microsPerRequest)} µs, ${ratio(cpu.microsPerRequest / TARGETS.balancerMicrosPerRequest)} the ` +
          `${TARGETS.balancerMicrosPerRequest} µs target: ${fixed(cpu.listenerMicrosPerRequest)} µs in the listener threads, ` +
          `${fixed(cpu.otherThreadsMicrosPerRequest)} µs in GC and other helper threads, ${fixed(cpu.mainThreadMicrosPerRequest)} µs in the main thread; ` +
          `${percent(cpu.systemShare, 0)} of it in the kernel (system time: syscalls, loopback TCP). ` +
          `Run with --cpu-prof DIR to see where (bench/README.md lists what profiling found and what to change).`,
      );
    }
  }
  const runs = balancerRuns(section);
  const allExact = runs.every((s) => s.distribution?.exact === true && s.distribution.confirmedByBackends !== false);
  const deviation = Math.max(0, ...runs.flatMap((s) => s.distribution?.backends.map((b) => Math.abs(b.deviation)) ?? []));
  targets.push({
    name: `Round robin exact, every run (${runs.length})`,
    measured: allExact ? 'exact' : `off by up to ${int(deviation)}`,
    target: 'deviation 0 per backend',
    verdict: allExact ? 'PASS' : 'FAIL',
  });
  if (!allExact) failures.push('the round-robin split was not exact');
  const inexact = runs.filter((s) => s.metrics?.exact !== true);
  targets.push({
    name: `Metrics exact (/metrics = backends' counts), every run (${runs.length})`,
    measured: inexact.length === 0 ? 'exact' : `${inexact.length} run${inexact.length === 1 ? '' : 's'} off`,
    target: 'equal, request for request',
    verdict: inexact.length === 0 ? 'PASS' : 'FAIL',
  });
  for (const s of inexact) failures.push(`${s.name}: ${metricsLine(s.metrics)}`);
  const errors = section.scenarios.reduce((sum, s) => sum + s.errorCount, 0);
  targets.push({ name: 'Errors, every run', measured: int(errors), target: '0', verdict: errors === 0 ? 'PASS' : 'FAIL' });
  if (errors > 0) {
    failures.push(`${int(errors)} request${errors === 1 ? '' : 's'} errored`);
    for (const s of section.scenarios.filter((run) => run.errorCount > 0)) notes.push(`Errors in ${s.name}: ${JSON.stringify(s.errors)}.`);
  }
  for (const s of runs) {
    if (!s.memory) continue;
    const met = s.memory.growth <= TARGETS.rssGrowth;
    targets.push({
      name: `Balancer RSS growth over the load, ${s.listenerThreads} thread${s.listenerThreads === 1 ? '' : 's'}`,
      measured: growth(s.memory.growth),
      target: `≤ +${percent(TARGETS.rssGrowth, 0)} over RSS after warm-up`,
      verdict: met ? 'PASS' : 'MISSED',
    });
    if (!met) {
      const settled = Math.abs(s.memory.secondHalfGrowth) <= SETTLED;
      notes.push(
        `${s.name}: RSS grew from ${mib(s.memory.rssAfterWarmupBytes)} after warm-up to ${mib(s.memory.rssAfterLoadBytes)} after the load. ` +
          `The listener heaps in use came down to ${mib(s.memory.listenerHeapLowFirstHalfBytes)} in the first half of the load and to ` +
          `${mib(s.memory.listenerHeapLowSecondHalfBytes)} in the second, ` +
          (settled
            ? `and RSS was flat over the second half (${growth(s.memory.secondHalfGrowth)}): it grew while V8 sized its heaps after the ` +
              `warm-up; a longer --warmup moves "after warm-up" past that (bench/README.md).`
            : `while RSS still grew over the second half (${growth(s.memory.secondHalfGrowth)}): if those low points stay flat it is V8 ` +
              `raising its heap limits, not live data (bench/README.md); npm run soak tells a leak apart.`),
      );
    }
  }
  const one = runs[0];
  const n = widest(section);
  if (one && n && one !== n) {
    targets.push({
      name: `Scaling, ${n.listenerThreads} threads / 1 thread`,
      measured: ratio(n.requestsPerSecond / one.requestsPerSecond),
      target: `reported; saturated first: ${n.saturation.first}`,
      verdict: 'INFO',
    });
  }
  return { targets, notes, failures };
}
