/**
 * @module Section 6, one backend dead then revived: three backends under the same load
 * generator, through the real balancer (a child process) with each algorithm in turn.
 * During the measured window one backend is killed (its server stops listening and
 * resets every connection: new ones are refused), stays dead for `deadMs`, and is
 * revived on the same port. Per algorithm: the errors clients saw (GETs only: the
 * balancer must retry them elsewhere, so 0 is required), the time from the kill to the
 * ejection and from the revival to the rejoin (from the balancer's shared state, seen
 * by its main thread: slot-watch.ts), and what the failures cost (failed attempts at
 * the dead backend, retries, ejections: each failed trial request ejects it again, for
 * twice as long).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AlgorithmName } from '../../src/routing/algorithms/names.ts';
import type { Cleanup } from '../cleanup.ts';
import type { Progress } from '../progress.ts';
import { BalancerChild } from './balancer-child.ts';
import type { BalancerSnapshot } from './balancer-messages.ts';
import { LoadGenerator, type LoadRun } from './generator.ts';
import { balancerArgs, describeTick, SCENARIO_PATHS, startScenarioBackends, type ScenarioOptions } from './scenario.ts';
import { started } from './slow-backend.ts';

export interface DeadBackendOptions extends Omit<ScenarioOptions, 'measureMs'> {
  readonly backendCount: number;
  /** Load before the kill, inside the measured window. */
  readonly killAfterMs: number;
  readonly deadMs: number;
  /** How long to wait for the rejoin after the revival, at most. */
  readonly rejoinWaitMs: number;
  /** Load after the rejoin, to show the backend taking requests again. */
  readonly tailMs: number;
  /** The balancer's --eject-time (doubles with each failed trial). */
  readonly ejectTimeMs: number;
}

export interface DeadRun {
  readonly algorithm: AlgorithmName;
  readonly requests: number;
  readonly latencyMs: LoadRun<unknown>['latencyMs'];
  /** Every error a client saw, warm-up included; must be 0. */
  readonly errorCount: number;
  readonly errors: Record<string, number>;
  /** Kill to ejection, ms (null: never ejected). */
  readonly ejectMs: number | null;
  /** Revival to rejoin, ms (null: not within rejoinWaitMs). */
  readonly rejoinMs: number | null;
  /** Ejections of the dead backend (the first and each failed trial). */
  readonly ejections: number;
  /** Attempts that failed at the dead backend, each retried elsewhere. */
  readonly failedAttempts: number;
  /** Attempts sent as a retry, over all backends. */
  readonly retries: number;
  /** Retries the shared retry budget refused (each one a client error). */
  readonly retriesRefused: number;
  /** Requests the dead backend was sent while it was up, before the kill, and after its rejoin. */
  readonly requestsBeforeKill: number;
  readonly requestsAfterRejoin: number;
  readonly sharesBeforeKill: readonly number[];
}

export interface DeadBackendSection {
  readonly backendCount: number;
  readonly connections: number;
  readonly loadThreads: number;
  readonly threads: number;
  readonly killAfterMs: number;
  readonly deadMs: number;
  readonly tailMs: number;
  readonly ejectTimeMs: number;
  readonly ejectAfter: number;
  readonly runs: readonly DeadRun[];
}

/** The balancer's --eject-after: its default, stated so the report can say it. */
const EJECT_AFTER = 3;

export async function runDeadBackend(options: DeadBackendOptions, progress: Progress, cleanup: Cleanup): Promise<DeadBackendSection> {
  const { backends, stop: stopBackends } = await startScenarioBackends(Array.from({ length: options.backendCount }, () => 0), cleanup);
  const generator = new LoadGenerator({ threads: options.loadThreads, connections: options.connections });
  const closeGenerator = cleanup.defer('load generator (dead backend)', () => generator.close());
  const origins = backends.map((backend) => backend.origin);
  // The middle one: neither the first slot nor the last.
  const dead = backends[Math.floor(backends.length / 2)];
  if (!dead) throw new Error('no backend to kill');
  const extra = ['--eject-after', String(EJECT_AFTER), '--eject-time', `${options.ejectTimeMs}ms`];
  const runs: DeadRun[] = [];

  for (const algorithm of options.algorithms) {
    progress.step(`one backend dead then revived: ${algorithm}`);
    const child = await BalancerChild.start({ args: balancerArgs(algorithm, origins, options.threads, extra) });
    const stopChild = cleanup.defer(`balancer (${algorithm})`, () => child.stop());
    let atKill: BalancerSnapshot | null = null;
    let atRejoin: BalancerSnapshot | null = null;
    const timeline = { killedAt: 0, ejectedAt: null as number | null, revivedAt: 0, rejoinedAt: null as number | null };

    const script = (async (): Promise<void> => {
      await sleep(options.warmupMs + options.killAfterMs);
      atKill = await child.snapshot();
      const from = child.events.length;
      const isDead = (e: { origin: string }): boolean => e.origin === dead.origin;
      timeline.killedAt = await dead.kill();
      const ejected = child.waitForEvent(from, (e) => isDead(e) && e.ejection !== 'in', options.deadMs + options.rejoinWaitMs);
      await sleep(Math.max(0, timeline.killedAt + options.deadMs - (performance.timeOrigin + performance.now())));
      const fromRevival = child.events.length;
      timeline.revivedAt = await dead.revive();
      const rejoined = await child.waitForEvent(fromRevival, (e) => isDead(e) && e.ejection === 'in', options.rejoinWaitMs);
      timeline.ejectedAt = (await ejected)?.at ?? null;
      timeline.rejoinedAt = rejoined?.at ?? null;
      atRejoin = await child.snapshot();
      await sleep(options.tailMs);
    })();
    // The script's failure must end the measured window, and be reported once.
    const until = script.catch(() => {});
    const run = await generator.run<BalancerSnapshot>({
      origin: `http://127.0.0.1:${child.port}`,
      warmupMs: options.warmupMs,
      measureMs: options.killAfterMs + options.deadMs + options.rejoinWaitMs + options.tailMs + 2_000,
      until,
      paths: SCENARIO_PATHS,
      snapshot: () => child.snapshot(),
      onTick: (tick) => progress.update(describeTick(tick)),
    });
    await script;
    await stopChild();

    const before = atKill as BalancerSnapshot | null;
    const rejoin = atRejoin as BalancerSnapshot | null;
    if (!before || !rejoin) throw new Error('the dead-backend script did not run to its end');
    const slot = (snapshot: BalancerSnapshot) => snapshot.backends.find((b) => b.origin === dead.origin);
    const delta = (field: 'failures' | 'ejections'): number => (slot(run.after)?.[field] ?? 0) - (slot(run.before)?.[field] ?? 0);
    const sentBeforeKill = origins.map((origin) => started(before, origin) - started(run.before, origin));
    const totalBeforeKill = sentBeforeKill.reduce((sum, n) => sum + n, 0);
    runs.push({
      algorithm,
      requests: run.requests,
      latencyMs: run.latencyMs,
      errorCount: run.errorCount,
      errors: run.errors,
      ejectMs: timeline.ejectedAt === null ? null : timeline.ejectedAt - timeline.killedAt,
      rejoinMs: timeline.rejoinedAt === null ? null : timeline.rejoinedAt - timeline.revivedAt,
      ejections: delta('ejections'),
      failedAttempts: delta('failures'),
      retries: run.after.backends.reduce((sum, b) => sum + b.retries, 0) - run.before.backends.reduce((sum, b) => sum + b.retries, 0),
      retriesRefused: run.after.retriesRefused - run.before.retriesRefused,
      requestsBeforeKill: started(before, dead.origin) - started(run.before, dead.origin),
      requestsAfterRejoin: started(run.after, dead.origin) - started(rejoin, dead.origin),
      sharesBeforeKill: sentBeforeKill.map((n) => n / Math.max(1, totalBeforeKill)),
    });
  }
  await closeGenerator();
  await stopBackends();
  const { backendCount, connections, loadThreads, threads, killAfterMs, deadMs, tailMs, ejectTimeMs } = options;
  return { backendCount, connections, loadThreads, threads, killAfterMs, deadMs, tailMs, ejectTimeMs, ejectAfter: EJECT_AFTER, runs };
}
