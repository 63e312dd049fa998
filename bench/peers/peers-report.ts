/**
 * @module What the peers section prints: per connection count, each contender's medians
 * over the rounds and its ratios to nginx (1 worker) measured in the same round (the
 * median of the per-round ratios: the machine's drift between rounds cancels out), then
 * the issue's targets as PASS / MISSED. Ratios, not absolute figures, are what carry
 * over from this shared 2-core machine to another.
 */
import { fixed, int, ratio, table, wrap, type TargetResult } from '../report.ts';
import { REFERENCE, type ContenderKey } from './contenders.ts';
import { socketErrorTotal } from './load-figures.ts';
import type { PeerRun, PeersSection } from './peers-section.ts';

/** At this many connections and more, the "many clients" targets apply (zero errors);
 * below it, the throughput and CPU targets. p99 is held to 2x nginx at every count. */
const MANY_CONNECTIONS = 1_000;
const TARGETS = { cpuRatio: 2, throughputRatio: 0.75, p99Ratio: 2 } as const;

export interface ContenderSummary {
  readonly key: ContenderKey;
  readonly name: string;
  readonly rounds: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cpuMicrosPerRequest: number;
  /** Summed over the rounds. */
  readonly socketErrors: { readonly connect: number; readonly read: number; readonly write: number; readonly timeout: number };
  readonly badStatus: number;
  readonly listenOverflows: number | null;
  readonly synRetrans: number | null;
  /** Median over the rounds of the cores other processes used while it was measured. */
  readonly otherProcessesCores: number | null;
  /** Medians of the per-round ratios to the reference (null for the reference itself or without it). */
  readonly vsReference: { readonly requestsPerSecond: number; readonly cpuPerRequest: number; readonly p99: number; readonly byRound: readonly RoundRatio[] } | null;
}

export interface RoundRatio {
  readonly round: number;
  readonly requestsPerSecond: number;
  readonly cpuPerRequest: number;
  readonly p99: number;
}

export interface PeersSummary {
  readonly connections: number;
  /** Median length of the measured runs, as the load generator timed them. */
  readonly measuredSeconds: number;
  readonly contenders: readonly ContenderSummary[];
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1 ? (sorted[middle] ?? NaN) : ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2;
}

const sum = (runs: readonly PeerRun[], figure: (run: PeerRun) => number): number => runs.reduce((total, run) => total + figure(run), 0);

export function summarisePeers(section: PeersSection): PeersSummary[] {
  return section.results.map(({ connections, runs }) => {
    const reference = runs[REFERENCE] ?? [];
    const contenders = section.contenders.flatMap((contender): ContenderSummary[] => {
      const mine = runs[contender.key];
      if (!mine || mine.length === 0) return [];
      const byRound = contender.key === REFERENCE ? [] : roundRatios(mine, reference);
      const counted = mine.every((run) => run.kernel !== null);
      return [
        {
          key: contender.key,
          name: contender.name,
          rounds: mine.length,
          requestsPerSecond: median(mine.map((run) => run.requestsPerSecond)),
          p50Ms: median(mine.map((run) => run.p50Ms)),
          p99Ms: median(mine.map((run) => run.p99Ms)),
          cpuMicrosPerRequest: median(mine.map((run) => run.cpuMicrosPerRequest)),
          socketErrors: {
            connect: sum(mine, (run) => run.socketErrors.connect),
            read: sum(mine, (run) => run.socketErrors.read),
            write: sum(mine, (run) => run.socketErrors.write),
            timeout: sum(mine, (run) => run.socketErrors.timeout),
          },
          badStatus: sum(mine, (run) => run.badStatus),
          listenOverflows: counted ? sum(mine, (run) => run.kernel?.TcpExtListenOverflows ?? 0) : null,
          synRetrans: counted ? sum(mine, (run) => run.kernel?.TcpExtTCPSynRetrans ?? 0) : null,
          otherProcessesCores: mine.every((run) => run.otherProcessesCores !== null) ? median(mine.map((run) => run.otherProcessesCores ?? 0)) : null,
          vsReference:
            byRound.length === 0
              ? null
              : {
                  requestsPerSecond: median(byRound.map((r) => r.requestsPerSecond)),
                  cpuPerRequest: median(byRound.map((r) => r.cpuPerRequest)),
                  p99: median(byRound.map((r) => r.p99)),
                  byRound,
                },
        },
      ];
    });
    const measuredSeconds = median(Object.values(runs).flatMap((mine) => mine.map((run) => run.seconds)));
    return { connections, measuredSeconds, contenders };
  });
}

/** Each round's figures of `runs` over the reference's in the same round. */
function roundRatios(runs: readonly PeerRun[], reference: readonly PeerRun[]): RoundRatio[] {
  return runs.flatMap((run) => {
    const base = reference.find((candidate) => candidate.round === run.round);
    if (!base) return [];
    return [
      {
        round: run.round,
        requestsPerSecond: run.requestsPerSecond / base.requestsPerSecond,
        cpuPerRequest: run.cpuMicrosPerRequest / base.cpuMicrosPerRequest,
        p99: run.p99Ms / base.p99Ms,
      },
    ];
  });
}

function errors(c: ContenderSummary): string {
  const total = socketErrorTotal(c.socketErrors);
  if (total === 0) return '0';
  const parts = Object.entries(c.socketErrors).filter(([, n]) => n > 0);
  return `${int(total)} (${parts.map(([kind, n]) => `${kind} ${int(n)}`).join(', ')})`;
}

export function peersTable(section: PeersSection, summary: PeersSummary): string {
  const kernel = section.kernelCounters;
  const headers = ['contender', 'req/s', 'p50 ms', 'p99 ms', 'socket errors', 'non-2xx', 'CPU µs/req', 'req/s ratio', 'CPU ratio', 'p99 ratio'];
  if (kernel) headers.push('overflows / SYN retr.');
  headers.push('others, cores');
  const rows = summary.contenders.map((c) => {
    const row = [
      c.name,
      int(c.requestsPerSecond),
      fixed(c.p50Ms, 2),
      fixed(c.p99Ms, 2),
      errors(c),
      int(c.badStatus),
      fixed(c.cpuMicrosPerRequest),
      c.key === REFERENCE ? '1.00x' : ratio(c.vsReference?.requestsPerSecond ?? NaN),
      c.key === REFERENCE ? '1.00x' : ratio(c.vsReference?.cpuPerRequest ?? NaN),
      c.key === REFERENCE ? '1.00x' : ratio(c.vsReference?.p99 ?? NaN),
    ];
    if (kernel) row.push(c.listenOverflows === null ? 'n/a' : `${int(c.listenOverflows)} / ${int(c.synRetrans ?? 0)}`);
    row.push(c.otherProcessesCores === null ? 'n/a' : fixed(c.otherProcessesCores, 2));
    return row;
  });
  const rounds = summary.contenders
    .filter((c) => c.vsReference !== null)
    .map((c) => {
      const each = (figure: (r: RoundRatio) => number): string => (c.vsReference?.byRound ?? []).map((r) => ratio(figure(r))).join(' ');
      return `  ${c.name}: req/s ${each((r) => r.requestsPerSecond)}; CPU/req ${each((r) => r.cpuPerRequest)}; p99 ${each((r) => r.p99)}`;
    });
  const explain =
    'Medians over the rounds; each ratio is to nginx (1 worker), the median of the ratios measured in each round. Socket errors, non-2xx' +
    (kernel ? ' and the kernel counters (TcpExtListenOverflows / TcpExtTCPSynRetrans, machine-wide, over each measured run)' : '') +
    ' are summed over the rounds. CPU is the contender\'s whole process tree (utime + stime from /proc) over the measured run, per request completed in it.' +
    ' "others, cores": the machine\'s busy time (/proc/stat) minus everything this bench started, wrk and the backends included: processes sharing the machine, which skew throughput and latency far more than CPU per request.';
  return [table(headers, rows), '', wrap(explain), '', '  Ratios to nginx, round by round:', ...rounds].join('\n');
}

export function peersTargets(summaries: readonly PeersSummary[]): TargetResult[] {
  const targets: TargetResult[] = [];
  for (const summary of summaries) {
    const at = `${int(summary.connections)} conns`;
    const many = summary.connections >= MANY_CONNECTIONS;
    const reference = summary.contenders.find((c) => c.key === REFERENCE);
    for (const c of summary.contenders.filter((candidate) => candidate.key.startsWith('switchyard'))) {
      const vs = c.vsReference;
      const check = (name: string, value: number, measured: string, target: string, ok: boolean): void => {
        targets.push({ name: `${c.name}: ${name} (${at})`, measured, target, verdict: !Number.isFinite(value) ? 'INFO' : ok ? 'PASS' : 'MISSED' });
      };
      if (!many) {
        const cpu = vs?.cpuPerRequest ?? NaN;
        check('CPU/request vs nginx', cpu, `${ratio(cpu)} (${fixed(c.cpuMicrosPerRequest)} vs ${fixed(reference?.cpuMicrosPerRequest ?? NaN)} µs)`, `≤ ${TARGETS.cpuRatio}x`, cpu <= TARGETS.cpuRatio);
        if (c.key === 'switchyard-2') {
          const rps = vs?.requestsPerSecond ?? NaN;
          check('req/s vs nginx', rps, `${ratio(rps)} (${int(c.requestsPerSecond)} vs ${int(reference?.requestsPerSecond ?? NaN)})`, `≥ ${TARGETS.throughputRatio}x`, rps >= TARGETS.throughputRatio);
        }
      }
      const p99 = vs?.p99 ?? NaN;
      check('p99 vs nginx', p99, `${ratio(p99)} (${fixed(c.p99Ms, 1)} vs ${fixed(reference?.p99Ms ?? NaN, 1)} ms)`, `≤ ${TARGETS.p99Ratio}x`, p99 <= TARGETS.p99Ratio);
      if (many) {
        const failed = socketErrorTotal(c.socketErrors) + c.badStatus;
        check('socket errors + non-2xx', failed, `${int(failed)}`, '0, every round', failed === 0);
      }
    }
  }
  return targets;
}

export function peersNotes(section: PeersSection): string[] {
  const notes = section.contenders.filter((c) => c.skipped !== null).map((c) => `peers: ${c.name} was not run: ${c.skipped}.`);
  if (!section.kernelCounters) notes.push('peers: nstat (iproute2) is not installed: no listen-overflow and SYN-retransmit counts.');
  return notes;
}

export function peersHeading(section: PeersSection, summary: PeersSummary): string {
  const { rounds, warmupMs } = section.options;
  const each = `${fixed(warmupMs / 1000, 1)} s warm-up + ${fixed(summary.measuredSeconds, 2)} s measured`;
  return `${int(summary.connections)} keep-alive connections, ${rounds} round${rounds === 1 ? '' : 's'} of ${each} per contender`;
}

/** The peers section's text when nothing could be measured. */
export const peersSkipped = (why: string): string => wrap(`Not measured: ${why}. No ratios.`);
