/**
 * @module What crosses between the bench and the balancer it runs as a child process
 * (balancer-process.ts). Plain data only.
 */
import type { ListenerSnapshot, SlotSnapshot } from '../../src/shared/shared-state.ts';

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
  /** The admin listener's port (/metrics, /events); null with --admin-port off. */
  readonly adminPort: number | null;
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
  readonly backends: readonly SlotSnapshot[];
  readonly listeners: readonly ListenerSnapshot[];
  /** Header counters: retries the shared budget refused, requests answered 503 for want of a backend. */
  readonly retriesRefused: number;
  readonly noBackend: number;
}

/** A change of one backend's passive health (slot-watch.ts), sent as soon as the child's
 * main thread sees it. */
export interface SlotEventReport {
  readonly type: 'slot-event';
  /** When it was seen: wall-clock milliseconds, `performance.timeOrigin + performance.now()`. */
  readonly at: number;
  readonly origin: string;
  readonly ejection: 'in' | 'ejected' | 'trial';
  /** The slot's ejection count so far (failed trials included). */
  readonly ejections: number;
}

export interface StoppedReport {
  readonly type: 'stopped';
  readonly aborted: number;
}

export type ChildReport = ListeningReport | BalancerSnapshot | SlotEventReport | StoppedReport;

export type ParentRequest = { readonly type: 'snapshot'; readonly id: number } | { readonly type: 'stop' };
