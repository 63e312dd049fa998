/**
 * @module What crosses between the bench and the balancer it runs as a child process
 * (balancer-process.ts). Plain data only.
 */
import type { BackendSnapshot, ListenerSnapshot } from '../../src/shared/layout.ts';

export interface CpuMicros {
  readonly user: number;
  readonly system: number;
}

/** Sent once by the child when every listener thread accepts connections. */
export interface ListeningReport {
  readonly type: 'listening';
  readonly port: number;
  readonly origins: readonly string[];
  readonly threads: number;
}

/** The child's answer to `snapshot`: everything the bench reads from the balancer. */
export interface BalancerSnapshot {
  readonly type: 'snapshot';
  /** The id of the request this answers (several may be under way at once). */
  readonly id: number;
  /** The whole balancer process: every thread it has, main, listeners, GC and libuv helpers. */
  readonly processCpu: CpuMicros;
  /** Its main (supervisor) thread alone. */
  readonly mainThreadCpu: CpuMicros;
  /** Each listener thread alone (null if it was not running). */
  readonly listenerCpu: readonly (CpuMicros | null)[];
  readonly rssBytes: number;
  /** V8 heap in use, summed over the listener threads (each thread has its own heap). */
  readonly listenerHeapBytes: number;
  readonly backends: readonly BackendSnapshot[];
  readonly listeners: readonly ListenerSnapshot[];
}

export interface StoppedReport {
  readonly type: 'stopped';
  readonly aborted: number;
}

export type ChildReport = ListeningReport | BalancerSnapshot | StoppedReport;

export type ParentRequest = { readonly type: 'snapshot'; readonly id: number } | { readonly type: 'stop' };
