/**
 * @module The table of section 8 (what watching the balancer costs it) and its targets:
 * each variant's balancer CPU per request and throughput as ratios to the baseline of the
 * same run, what each watcher saw, and the checks that make the figures mean something
 * (no request errored, the watchers were served, the access log has one line per request).
 */
import { fixed, int, percent, ratio, table, wrap, type TargetResult } from '../report.ts';
import type { ObservabilitySection, VariantResult, VariantRound } from './observability-cost.ts';

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;

/** What the variant's watcher saw, over all rounds. */
function seen(result: VariantResult): string {
  const watched = result.rounds.map((r) => r.watched).filter((w) => w !== null);
  const count = watched.reduce((sum, w) => sum + w.count, 0);
  const bytes = watched.reduce((sum, w) => sum + w.bytes, 0);
  if (result.variant === 'metrics') return `${int(count)} scrapes, ${kib(bytes / Math.max(1, count))} each`;
  if (result.variant === 'events') return `${int(count)} readings, ${kib(bytes / Math.max(1, count))} each`;
  if (result.variant === 'access-log') {
    const logs = result.rounds.map((r) => r.accessLog).filter((log) => log !== null);
    const lines = logs.reduce((sum, log) => sum + log.lines, 0);
    const bytesOut = logs.reduce((sum, log) => sum + log.bytes, 0);
    const complete = logs.every((log) => log.lines === log.requests);
    return `${int(lines)} lines of ${int(bytesOut / Math.max(1, lines))} B${complete ? ', one per request' : ', INCOMPLETE'}`;
  }
  return '';
}

/** Each round's `figure` of `variant` over the baseline's in the same round. */
function roundRatios(section: ObservabilitySection, variant: VariantResult, figure: (round: VariantRound) => number): number[] {
  const [baseline] = section.variants;
  return variant.rounds.flatMap((round) => {
    const base = baseline?.rounds.find((candidate) => candidate.round === round.round);
    return base ? [figure(round) / figure(base)] : [];
  });
}

/** `/metrics every 1 s: +1.31 ms per second (1.31 ms per scrape)`, per admin variant. */
function adminCosts(section: ObservabilitySection, baseline: VariantResult): string {
  return section.variants
    .filter((v) => v.variant === 'metrics' || v.variant === 'events')
    .map((v) => {
      const extra = v.mainThreadMillisPerSecond - baseline.mainThreadMillisPerSecond;
      const served = v.rounds.reduce((sum, r) => sum + (r.watched?.count ?? 0), 0);
      // Scrapes or readings per second over the whole run stand in for those of the windows.
      const perSecond = served / Math.max(1e-9, v.rounds.length * (section.warmupMs + section.measureMs) / 1000);
      const unit = v.variant === 'metrics' ? 'scrape' : 'reading';
      return `${v.label} ${extra >= 0 ? '+' : ''}${fixed(extra, 2)} ms per second (${fixed(extra / Math.max(1e-9, perSecond), 2)} ms per ${unit})`;
    })
    .join('; ');
}

const microsPerRequest = (round: VariantRound): number => round.balancerMicros / Math.max(1, round.requests);
const requestsPerSecond = (round: VariantRound): number => round.requests / Math.max(1e-9, round.seconds);

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1 ? (sorted[Math.floor(middle)] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** The cost of a variant: the median over the rounds of its CPU per request over the baseline's. */
function costRatio(section: ObservabilitySection, variant: VariantResult): number {
  return median(roundRatios(section, variant, microsPerRequest));
}

export function observabilityReport(section: ObservabilitySection): string {
  const [baseline] = section.variants;
  if (!baseline) return '  (no runs)';
  const lines = section.accessLogLines;
  const rows = section.variants.map((v) => [
    v.label,
    int(v.requests),
    int(v.requestsPerSecond),
    fixed(v.balancerMicrosPerRequest),
    fixed(v.listenerMicrosPerRequest),
    fixed(v.mainThreadMicrosPerRequest, 2),
    fixed(v.otherThreadsMicrosPerRequest),
    ratio(costRatio(section, v)),
    ratio(median(roundRatios(section, v, requestsPerSecond))),
    seen(v),
  ]);
  const perRound = Array.from({ length: section.rounds }, (_, round) => {
    const inRound = section.variants.flatMap((v) => v.rounds.filter((r) => r.round === round));
    const others = Math.max(...inRound.map((r) => r.otherProcessesCores ?? 0));
    const cells = section.variants
      .filter((v) => v !== baseline)
      .map((v) => {
        const r = v.rounds.find((candidate) => candidate.round === round);
        const base = baseline.rounds.find((candidate) => candidate.round === round);
        return `${v.variant} ${r && base ? ratio(microsPerRequest(r) / microsPerRequest(base)) : '-'}`;
      });
    return `round ${round + 1}: ${cells.join(', ')} (other processes: up to ${fixed(others, 2)} cores)`;
  });
  return [
    wrap(
      `A fresh balancer per variant (${section.threads} listener thread${section.threads === 1 ? '' : 's'}, admin listener on an ephemeral port), ` +
        `${section.connections} keep-alive connections from ${section.loadThreads} load thread${section.loadThreads === 1 ? '' : 's'}, small GETs; ` +
        `${(section.warmupMs / 1000).toFixed(1)} s warm-up and ${(section.measureMs / 1000).toFixed(1)} s measured per variant and round, ` +
        `${section.rounds} round${section.rounds === 1 ? '' : 's'}. The µs/req columns pool every round: "balancer" is its whole process, ` +
        '"listeners" its listener threads, "main thread" where the admin listener runs, "other threads" GC, compiler and libuv ' +
        '(the access log\'s writes). Each "vs baseline" is the median over the rounds of the ratio to the baseline of the same round.',
    ),
    '',
    table(
      ['variant', 'requests', 'req/s', 'balancer µs/req', 'listeners', 'main thread', 'other threads', 'CPU/req vs baseline', 'req/s vs baseline', 'seen'],
      rows,
      ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
    ),
    '',
    wrap(`Balancer CPU per request over the baseline's, round by round (the spread is the noise of this machine): ${perRound.join('; ')}.`),
    '',
    wrap(
      'What the admin listener itself costs, from the one thread it runs in (the main thread, where little else happens, ' +
        `so that this holds still where the whole process does not): the baseline's main thread used ${fixed(baseline.mainThreadMillisPerSecond, 2)} ms ` +
        `of CPU per second; ${adminCosts(section, baseline)}.`,
    ),
    '',
    wrap(
      `The access log alone, apart from any load (the real AccessLog writing ${int(lines.lines)} lines of a small GET, ${int(lines.bytesPerLine)} B each, ` +
        `to a file from the bench process): ${fixed(lines.threadMicrosPerLine, 2)} µs of CPU per line in the thread that logs, ` +
        `${fixed(lines.processMicrosPerLine, 2)} µs with its asynchronous writes; that is ${percent(lines.processMicrosPerLine / baseline.balancerMicrosPerRequest, 1)} ` +
        `of the baseline's ${fixed(baseline.balancerMicrosPerRequest)} µs per request above.`,
    ),
  ].join('\n');
}

export function observabilityTargets(section: ObservabilitySection): { targets: TargetResult[]; failures: string[]; notes: string[] } {
  const targets: TargetResult[] = [];
  const failures: string[] = [];
  const notes: string[] = [];
  const [baseline] = section.variants;
  for (const v of section.variants) {
    if (baseline && v !== baseline) {
      targets.push({
        name: `Cost of ${v.label}`,
        measured: `${ratio(costRatio(section, v))} CPU/req`,
        target: `reported; median over ${section.rounds} round${section.rounds === 1 ? '' : 's'} against the baseline`,
        verdict: 'INFO',
      });
    }
    const errors = v.rounds.reduce((sum, r) => sum + r.errorCount, 0);
    if (errors > 0) {
      failures.push(`${int(errors)} request${errors === 1 ? '' : 's'} errored with ${v.label}`);
      notes.push(`Errors with ${v.label}: ${JSON.stringify(v.rounds.map((r) => r.errors))}.`);
    }
    for (const r of v.rounds) {
      if (r.watched && (r.watched.failures > 0 || r.watched.count === 0)) {
        failures.push(`${v.label}, round ${r.round + 1}: the admin listener served ${r.watched.count} and failed ${r.watched.failures}`);
      }
      if (r.accessLog && r.accessLog.lines !== r.accessLog.requests) {
        failures.push(
          `${v.label}, round ${r.round + 1}: ${int(r.accessLog.lines)} access-log lines for ${int(r.accessLog.requests)} requests ` +
            '(lines dropped while the file was more than 16 MiB behind, or lost at the stop)',
        );
      }
    }
  }
  if (baseline) {
    const lines = section.accessLogLines;
    targets.push({
      name: 'Access log alone, CPU per line',
      measured: `${fixed(lines.processMicrosPerLine, 2)} µs`,
      target: `reported; ${percent(lines.processMicrosPerLine / baseline.balancerMicrosPerRequest, 1)} of the baseline's CPU per request`,
      verdict: 'INFO',
    });
  }
  return { targets, failures, notes };
}
