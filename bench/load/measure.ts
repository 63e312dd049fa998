/**
 * @module Turns before/after snapshots into what the load section reports: CPU time per
 * request and cores used, for the balancer (the whole child process, and its listener
 * threads alone), the backends and the load generator, and which of them saturated.
 */
import { readFileSync } from 'node:fs';
import type { BalancerSnapshot, CpuMicros } from './balancer-messages.ts';

/** The machine's CPU time counters (/proc/stat, Linux), in clock ticks over all cores. */
export interface MachineTicks {
  readonly busy: number;
  readonly total: number;
}

/** Null where /proc/stat does not exist (not Linux): the report then leaves it out. */
export function readMachineTicks(): MachineTicks | null {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0] ?? '';
    const [, ...fields] = line.trim().split(/\s+/);
    const ticks = fields.map(Number);
    // user nice system idle iowait irq softirq steal (guest time is inside user already)
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = ticks;
    const busy = user + nice + system + irq + softirq + steal;
    return { busy, total: busy + idle + iowait };
  } catch {
    return null;
  }
}

/** What the load section records at each end of a measured window. */
export interface WindowSnapshot {
  readonly balancer: BalancerSnapshot | null;
  /** CPU microseconds of each embedded backend thread (null: external backends). */
  readonly backends: readonly number[] | null;
  readonly machine: MachineTicks | null;
}

/** The sample a load run through a balancer child takes at each edge of its measured
 * window: the machine's ticks first, then the balancer's and the backends' CPU. */
export function balancerWindow(
  child: { snapshot(): Promise<BalancerSnapshot> },
  backends: { cpuMicros(): Promise<readonly number[] | null> },
): () => Promise<WindowSnapshot> {
  return async () => {
    const machine = readMachineTicks();
    const [balancer, backendCpu] = await Promise.all([child.snapshot(), backends.cpuMicros()]);
    return { balancer, backends: backendCpu, machine };
  };
}

export interface ComponentCpu {
  /** CPU microseconds in the window, all threads of the component. */
  readonly micros: number;
  /** The same per measured request. */
  readonly microsPerRequest: number;
  /** Cores kept busy on average (micros / window length). */
  readonly cores: number;
  /** The busiest single thread of the component, in cores. */
  readonly busiestThreadCores: number;
  readonly threads: number;
}

export interface BalancerCpu extends ComponentCpu {
  /** The listener threads alone (the rest is the main thread, GC and libuv helpers). */
  readonly listenerMicrosPerRequest: number;
  readonly mainThreadMicrosPerRequest: number;
  readonly otherThreadsMicrosPerRequest: number;
  /** Of the process's CPU, the part spent in the kernel (syscalls: loopback TCP is here). */
  readonly systemShare: number;
}

export interface CpuBreakdown {
  readonly balancer: BalancerCpu | null;
  readonly backends: ComponentCpu | null;
  readonly generator: ComponentCpu;
  /** The machine: every component together, against the cores there are. */
  readonly totalCores: number;
  readonly availableCores: number;
  /** Cores the whole machine was busy (steal included), and what of it was not ours:
   * other processes, which skew every figure here (null: not measurable). */
  readonly machineBusyCores: number | null;
  readonly otherProcessesCores: number | null;
}

const total = (cpu: CpuMicros | null | undefined): number => (cpu ? cpu.user + cpu.system : 0);

function component(perThreadMicros: readonly number[], requests: number, seconds: number): ComponentCpu {
  const micros = perThreadMicros.reduce((sum, m) => sum + m, 0);
  return {
    micros,
    microsPerRequest: micros / Math.max(1, requests),
    cores: micros / (seconds * 1e6),
    busiestThreadCores: Math.max(0, ...perThreadMicros) / (seconds * 1e6),
    threads: perThreadMicros.length,
  };
}

export function cpuBreakdown(
  before: WindowSnapshot,
  after: WindowSnapshot,
  generatorPerThreadMicros: readonly number[],
  requests: number,
  seconds: number,
  availableCores: number,
): CpuBreakdown {
  let balancer: BalancerCpu | null = null;
  if (before.balancer && after.balancer) {
    const b0 = before.balancer;
    const b1 = after.balancer;
    const listeners = b1.listenerCpu.map((cpu, i) => total(cpu) - total(b0.listenerCpu[i]));
    const processMicros = total(b1.processCpu) - total(b0.processCpu);
    const mainMicros = total(b1.mainThreadCpu) - total(b0.mainThreadCpu);
    const listenerMicros = listeners.reduce((sum, m) => sum + m, 0);
    const perRequest = (m: number): number => m / Math.max(1, requests);
    balancer = {
      ...component(listeners, requests, seconds),
      // The whole process is the honest figure: it includes GC and helper threads.
      micros: processMicros,
      microsPerRequest: perRequest(processMicros),
      cores: processMicros / (seconds * 1e6),
      listenerMicrosPerRequest: perRequest(listenerMicros),
      mainThreadMicrosPerRequest: perRequest(mainMicros),
      otherThreadsMicrosPerRequest: perRequest(processMicros - listenerMicros - mainMicros),
      systemShare: (b1.processCpu.system - b0.processCpu.system) / Math.max(1, processMicros),
    };
  }
  let backends: ComponentCpu | null = null;
  if (before.backends && after.backends) {
    const b0 = before.backends;
    backends = component(
      after.backends.map((m, i) => m - (b0[i] ?? 0)),
      requests,
      seconds,
    );
  }
  const generator = component(generatorPerThreadMicros, requests, seconds);
  const totalCores = generator.cores + (backends?.cores ?? 0) + (balancer?.cores ?? 0);
  const m0 = before.machine;
  const m1 = after.machine;
  const machineBusyCores = m0 && m1 && m1.total > m0.total ? ((m1.busy - m0.busy) / (m1.total - m0.total)) * availableCores : null;
  return {
    balancer,
    backends,
    generator,
    totalCores,
    availableCores,
    machineBusyCores,
    // External backends run elsewhere or here unmeasured: then "others" would include them.
    otherProcessesCores: machineBusyCores === null || backends === null ? null : Math.max(0, machineBusyCores - totalCores),
  };
}

/** A single thread this busy is treated as saturated. */
const THREAD_SATURATED = 0.9;
/** All cores together this busy: the machine is the limit. */
const MACHINE_SATURATED = 0.9;

export interface Saturation {
  /** `load generator`, `backends`, `balancer`, `all cores (most: ...)` or `nothing`. */
  readonly first: string;
  readonly why: string;
}

/** Names what limited the rate: a single thread at (nearly) a full core; else the
 * machine's cores, busy all the time, with the biggest consumer named (other processes
 * included); else nothing CPU-bound (the rate is then latency over the connections). */
export function saturation(cpu: CpuBreakdown, connections: number): Saturation {
  const parts: Array<[string, ComponentCpu | null]> = [
    ['load generator', cpu.generator],
    ['backends', cpu.backends],
    ['balancer', cpu.balancer],
  ];
  const pinned = parts
    .filter((entry): entry is [string, ComponentCpu] => entry[1] !== null && entry[1].busiestThreadCores >= THREAD_SATURATED)
    .sort((a, b) => b[1].busiestThreadCores - a[1].busiestThreadCores)[0];
  if (pinned) return { first: pinned[0], why: `the ${pinned[0]} saturated first: one of its threads used ${percent(pinned[1].busiestThreadCores)} of a core` };
  const shares: Array<[string, number]> = parts
    .filter((entry): entry is [string, ComponentCpu] => entry[1] !== null)
    .map(([name, c]): [string, number] => [name, c.cores]);
  if (cpu.otherProcessesCores !== null) shares.push(['other processes', cpu.otherProcessesCores]);
  shares.sort((a, b) => b[1] - a[1]);
  const listed = shares.map(([name, cores]) => `${name} ${cores.toFixed(2)}`).join(', ');
  const busy = cpu.machineBusyCores ?? cpu.totalCores;
  const biggest = shares[0];
  if (busy >= MACHINE_SATURATED * cpu.availableCores && biggest) {
    return {
      first: `all cores (most: ${biggest[0]})`,
      why: `all ${cpu.availableCores} cores were busy (${busy.toFixed(2)}: ${listed}); the ${biggest[0]} took the largest share`,
    };
  }
  return {
    first: 'nothing',
    why: `the CPU was not saturated (${busy.toFixed(2)} of ${cpu.availableCores} cores busy: ${listed}); the rate is bound by latency over ${connections} connections`,
  };
}

function percent(fraction: number): string {
  return `${Math.round(fraction * 100)}%`;
}
