/**
 * @module `npm run bench -- --peers`: switchyard side by side with nginx and HAProxy.
 * Two nginx backends (one worker each, a fixed body each), four balancers in front of
 * them (contenders.ts), the same load generator for all (load-driver.ts), and per
 * connection count some rounds in which every contender gets a warm-up and a measured
 * run, in alternating order (A B C D, then D C B A, ...) so that a drift of the machine
 * over a round does not always favour the same one. Around each measured run: the CPU
 * time of the contender's whole process tree, and the kernel's listen-queue counters.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cleanup } from '../cleanup.ts';
import { readMachineTicks, type MachineTicks } from '../load/measure.ts';
import type { Progress } from '../progress.ts';
import { nginxBackendConfig } from './configs.ts';
import { CONTENDER_KEYS, CONTENDER_NAMES, contenderBinary, findBinary, startContender, startNginx, type ContenderKey, type RunningContender } from './contenders.ts';
import { counterDelta, readKernelCounters, type KernelCounts } from './kernel-counters.ts';
import type { LoadFigures } from './load-figures.ts';
import { builtinDriver, wrkDriver, type LoadDriver } from './load-driver.ts';
import { procAvailable, treeCpuMicros } from './process-tree.ts';
import { checkBackend, checkContender } from './sanity.ts';
import { freePort } from './spawned.ts';

/** Each backend's body: distinct, so that an answer names the backend that sent it. */
const BACKEND_BODIES = ['a\n', 'b\n'] as const;

export interface PeersOptions {
  readonly connections: readonly number[];
  readonly rounds: number;
  readonly warmupMs: number;
  /** Measured time of each run. */
  readonly durationMs: number;
  /** Threads of the built-in load generator (when wrk is missing). */
  readonly loadThreads: number;
}

/** One contender, one round, one connection count. */
export interface PeerRun extends LoadFigures {
  readonly round: number;
  /** CPU time of the contender's process tree in the measured run. */
  readonly cpuMicros: number;
  readonly cpuMicrosPerRequest: number;
  /** Change of the kernel's counters over the measured run (null: nstat missing). */
  readonly kernel: KernelCounts | null;
  /** Cores kept busy by processes this bench did not start (the machine is shared),
   * over the measured run; null where /proc/stat cannot be read. */
  readonly otherProcessesCores: number | null;
}

export interface PeerContender {
  readonly key: ContenderKey;
  readonly name: string;
  /** Why it was not run (its binary is missing), or null. */
  readonly skipped: string | null;
}

export interface PeersAtConnections {
  readonly connections: number;
  /** Each contender's runs, one per round, in round order. */
  readonly runs: Partial<Record<ContenderKey, PeerRun[]>>;
}

export interface PeersSection {
  /** Why nothing was measured (nginx, the reference, is missing), or null. */
  readonly skipped: string | null;
  readonly options: PeersOptions;
  readonly loadGenerator: string;
  readonly kernelCounters: boolean;
  readonly contenders: readonly PeerContender[];
  readonly results: readonly PeersAtConnections[];
}

export async function runPeersSection(options: PeersOptions, progress: Progress, cleanup: Cleanup): Promise<PeersSection> {
  const contenders: PeerContender[] = CONTENDER_KEYS.map((key) => {
    const { program, file } = contenderBinary(key);
    return { key, name: CONTENDER_NAMES[key], skipped: file === null ? `${program} is not installed (not on PATH nor in /usr/sbin)` : null };
  });
  const nginx = findBinary('nginx');
  const nstat = findBinary('nstat');
  const empty = { options, loadGenerator: 'none', kernelCounters: nstat !== null, contenders, results: [] };
  if (nginx === null) return { ...empty, skipped: 'nginx is not installed (apt-get install nginx haproxy wrk): it is both the backends and the reference every ratio is taken against' };
  if (!procAvailable()) return { ...empty, skipped: 'no /proc on this system: the CPU time of a process tree is read from there (Linux)' };

  const dir = mkdtempSync(join(tmpdir(), 'switchyard-peers-'));
  cleanup.defer('peers temp dir', () => rmSync(dir, { recursive: true, force: true }));
  for (const skipped of contenders.filter((c) => c.skipped !== null)) progress.note(`skipping ${skipped.name}: ${skipped.skipped}`);

  progress.step('peers: starting two nginx backends');
  const backendPorts: number[] = [];
  for (const [i, body] of BACKEND_BODIES.entries()) {
    const name = `backend-${String.fromCharCode(97 + i)}`;
    const port = await freePort();
    await startNginx(nginx, dir, name, nginxBackendConfig({ name, dir, port, body }), port, cleanup);
    await checkBackend(name, port, body);
    backendPorts.push(port);
  }

  const running: RunningContender[] = [];
  for (const contender of contenders) {
    const binary = contenderBinary(contender.key).file;
    if (contender.skipped !== null || binary === null) continue;
    progress.step(`peers: starting ${contender.name}`);
    const own = join(dir, contender.key);
    mkdirSync(own);
    const started = await startContender(contender.key, binary, { dir: own, backendPorts, cleanup });
    await checkContender(contender.name, started.port, BACKEND_BODIES);
    running.push(started);
  }

  const wrk = findBinary('wrk');
  const driver: LoadDriver = wrk ? wrkDriver(wrk, cleanup) : builtinDriver(options.loadThreads, cleanup);
  const results: PeersAtConnections[] = [];
  for (const connections of options.connections) {
    const runs: PeersAtConnections['runs'] = {};
    for (let round = 1; round <= options.rounds; round++) {
      // A B C D, then D C B A: no contender always runs right after the same one, or first.
      const order = round % 2 === 1 ? running : [...running].reverse();
      for (const contender of order) {
        progress.step(`peers: ${connections} connections, round ${round}/${options.rounds}, ${contender.name} (port ${contender.port})`);
        const run = await measure(driver, contender, connections, round, options, nstat);
        (runs[contender.key] ??= []).push(run);
        progress.note(
          `${Math.round(run.requestsPerSecond).toLocaleString('en-US')} req/s, p99 ${run.p99Ms.toFixed(1)} ms, ${run.cpuMicrosPerRequest.toFixed(1)} µs CPU/req`,
        );
      }
    }
    results.push({ connections, runs });
  }

  await driver.close();
  for (const contender of running.reverse()) await contender.stop();
  return { ...empty, skipped: null, loadGenerator: driver.description, results };
}

async function measure(
  driver: LoadDriver,
  contender: RunningContender,
  connections: number,
  round: number,
  options: PeersOptions,
  nstat: string | null,
): Promise<PeerRun> {
  const snapshot = (): Snapshot => ({
    kernel: readKernelCounters(nstat),
    // Everything this bench started (and the bench itself), a child's time counted in its
    // parent's once it is reaped (wrk's, at the end): the rest of the machine is others'.
    ours: treeCpuMicros(process.pid),
    cpu: treeCpuMicros(contender.pid),
    machine: readMachineTicks(),
    at: performance.now(),
  });
  const { figures, before, after } = await driver.drive({
    origin: `http://127.0.0.1:${contender.port}`,
    connections,
    warmupMs: options.warmupMs,
    measureMs: options.durationMs,
    snapshot,
  });
  const cpuMicros = after.cpu - before.cpu;
  return {
    ...figures,
    round,
    cpuMicros,
    cpuMicrosPerRequest: cpuMicros / Math.max(1, figures.requests),
    kernel: counterDelta(before.kernel, after.kernel),
    otherProcessesCores: otherCores(before, after),
  };
}

interface Snapshot {
  readonly kernel: KernelCounts | null;
  readonly ours: number;
  readonly cpu: number;
  readonly machine: MachineTicks | null;
  readonly at: number;
}

function otherCores(before: Snapshot, after: Snapshot): number | null {
  const m0 = before.machine;
  const m1 = after.machine;
  if (!m0 || !m1 || m1.total <= m0.total) return null;
  const busyCores = ((m1.busy - m0.busy) / (m1.total - m0.total)) * availableParallelism();
  const ourCores = (after.ours - before.ours) / ((after.at - before.at) * 1000);
  return Math.max(0, busyCores - ourCores);
}
