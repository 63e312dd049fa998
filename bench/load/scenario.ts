/**
 * @module What the two load scenarios (slow-backend.ts, dead-backend.ts) share: their
 * options, the balancer's command line for one algorithm, the request paths (keys for
 * consistent hashing), and the progress line.
 */
import type { AlgorithmName } from '../../src/routing/algorithms/names.ts';
import type { Cleanup } from '../cleanup.ts';
import type { LoadTick } from './generator.ts';
import { ScenarioBackend } from './scenario-backends.ts';

/** Distinct request paths the generator cycles through; consistent hashing hashes them
 * (`--hash-key path`), the other algorithms ignore them. */
export const SCENARIO_PATHS = 256;

export interface ScenarioOptions {
  readonly warmupMs: number;
  readonly measureMs: number;
  readonly connections: number;
  readonly loadThreads: number;
  /** Listener threads of the balancer. */
  readonly threads: number;
  readonly algorithms: readonly AlgorithmName[];
}

/** switchyard's own flags for one run: the CLI parses them in the balancer child. */
export function balancerArgs(algorithm: AlgorithmName, origins: readonly string[], threads: number, extra: readonly string[] = []): string[] {
  return [
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--admin-port',
    'off',
    '--threads',
    String(threads),
    '--algorithm',
    algorithm,
    ...(algorithm === 'consistent-hash' ? ['--hash-key', 'path'] : []),
    ...origins.flatMap((origin) => ['--backend', origin]),
    ...extra,
  ];
}

/** Backends answering after these delays (ms), stopped by `cleanup` if anything fails. */
export async function startScenarioBackends(delays: readonly number[], cleanup: Cleanup): Promise<{ backends: ScenarioBackend[]; stop: () => Promise<void> }> {
  const backends: ScenarioBackend[] = [];
  const stop = cleanup.defer('scenario backends', async () => {
    await Promise.all(backends.map((backend) => backend.stop()));
  });
  for (const delayMs of delays) backends.push(await ScenarioBackend.start(delayMs));
  return { backends, stop };
}

export function describeTick(tick: LoadTick): string {
  return `${tick.phase} ${(tick.phaseMs / 1000).toFixed(1)} s, ${tick.completed.toLocaleString('en-US')} responses, ${Math.round(tick.rate).toLocaleString('en-US')} req/s, ${tick.errors} errors`;
}
