/**
 * @module The one declaration of switchyard's shared memory: every field of every
 * record, its type, which thread writes it and what it means. Offsets are computed from
 * these tables, so a new field is one line here. `SharedState` (shared-state.ts) is the
 * only code that turns them into reads and writes.
 *
 * One `SharedArrayBuffer`, created by the main thread and handed to every listener
 * thread:
 *
 * ```
 * region      records                      record size
 * ----------  ---------------------------  ----------------------------------------
 * header      1                            HEADER.bytes (64-byte aligned)
 * slots       capacity (--max-backends)    SLOT.bytes (a multiple of 64: one slot's
 *                                           hot counters never share a cache line
 *                                           with its neighbour's)
 * origins     capacity                     ORIGIN_BYTES: the slot's identity, ASCII
 * listeners   listener threads             LISTENER.bytes
 * matrix      listeners x capacity int32   requests of listener l running at slot s
 * ```
 *
 * Nothing here blocks: listener threads use `load`, `store`, `add`, `sub` and
 * `compareExchange`, never `Atomics.wait` (they serve sockets). Only the main thread
 * waits, with `Atomics.waitAsync`, for STATE_EPOCH to change (control/event-log.ts).
 *
 * Writers: **control** is the main thread, the one writer of membership and of active
 * health; **listeners** are every listener thread, writing only with atomic operations
 * whose result decides who won (a counter, or a `compareExchange` only one thread can
 * win). A field written by both says which transitions each makes.
 */

import { ERROR_CODES } from '../errors.ts';

export type FieldType = 'i32' | 'u32' | 'u64';

export interface FieldSpec {
  readonly type: FieldType;
  readonly writer: string;
  readonly meaning: string;
  /** An array of this many cells of `type` (counters by class, histogram buckets); 1 if absent. */
  readonly cells?: number;
}

type NamesOf<T, Type extends FieldType> = { [K in keyof T]: T[K] extends { readonly type: Type } ? K : never }[keyof T];

/** A record's fields resolved to indices: `i32`/`u32` fields index an Int32Array of the
 * record (4-byte units), `u64` fields a BigUint64Array (8-byte units). */
export interface RecordLayout<T> {
  readonly bytes: number;
  readonly i32: { readonly [K in NamesOf<T, 'i32'> & string]: number };
  readonly u32: { readonly [K in NamesOf<T, 'u32'> & string]: number };
  readonly u64: { readonly [K in NamesOf<T, 'u64'> & string]: number };
  readonly fields: T;
}

/** Lays out a record: 64-bit fields first (8-byte aligned), then 32-bit ones, in the
 * order declared; the size rounds up to `align` bytes. An array field's index is that
 * of its first cell. */
function record<const T extends Record<string, FieldSpec>>(fields: T, align: number): RecordLayout<T> {
  const i32: Record<string, number> = {};
  const u32: Record<string, number> = {};
  const u64: Record<string, number> = {};
  let bytes = 0;
  for (const [name, spec] of Object.entries(fields)) {
    if (spec.type !== 'u64') continue;
    u64[name] = bytes / 8;
    bytes += 8 * (spec.cells ?? 1);
  }
  for (const [name, spec] of Object.entries(fields)) {
    if (spec.type === 'u64') continue;
    (spec.type === 'i32' ? i32 : u32)[name] = bytes / 4;
    bytes += 4 * (spec.cells ?? 1);
  }
  return { bytes: Math.ceil(bytes / align) * align, i32, u32, u64, fields } as unknown as RecordLayout<T>;
}

/**
 * Upper bounds of the latency histogram's cells, µs: log-spaced (1, 2.5, 5 per decade)
 * from 0.5 ms to 30 s, fixed so that every scrape and every thread agree on them.
 */
export const LATENCY_BOUNDS_MICROS = [
  500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 30_000_000,
] as const;

/** Bytes reserved per slot for its origin (`http://` + a 253-byte host name + `:65535` fits). */
export const ORIGIN_BYTES = 272;

/** Failure reasons as stored in `lastFailure` and counted in `failuresBy` (index). */
export const FAILURE_REASONS = [
  'none',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'CONNECT_TIMEOUT',
  'HEADERS_TIMEOUT',
  'BODY_TIMEOUT',
  'UPSTREAM_CLOSED',
  'LENGTH_MISMATCH',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'TLS',
  'malformed response',
  '5xx response',
  'other',
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

export function failureReasonIndex(reason: FailureReason): number {
  return FAILURE_REASONS.indexOf(reason);
}

export const MAGIC = 0x53575944; // 'SWYD'
export const VERSION = 7;

export const HEADER = record(
  {
    magic: { type: 'i32', writer: 'control, at creation', meaning: "'SWYD': this buffer is switchyard's" },
    version: { type: 'i32', writer: 'control, at creation', meaning: 'layout version; a mismatch is refused' },
    capacity: { type: 'i32', writer: 'control, at creation', meaning: 'number of slots (--max-backends)' },
    listenerCount: { type: 'i32', writer: 'control, at creation', meaning: 'number of listener rows' },
    generation: {
      type: 'i32',
      writer: 'control',
      meaning: 'membership generation: +1 on every change of which slots are filled, their state or weight',
    },
    stateEpoch: {
      type: 'i32',
      writer: 'control and listeners (add)',
      meaning: 'routing epoch: +1 after every change select() reads (membership, health, ejection, trial, slow start); each listener rebuilds its view when it moves',
    },
    rrNext: { type: 'u32', writer: 'listeners (add; sub at the fold); control resets it per generation', meaning: 'next round-robin ticket' },
    rrWrap: { type: 'u32', writer: 'control, per generation', meaning: 'where rrNext folds back to 0: a multiple of the total active weight' },
    ejected: {
      type: 'i32',
      writer: 'listeners (compareExchange under the --max-ejected bound); control',
      meaning: 'slots ejected or on trial now',
    },
    requestsInFlight: { type: 'i32', writer: 'listeners (add/sub); control repairs a dead listener', meaning: 'client requests being proxied now' },
    retriesInFlight: { type: 'i32', writer: 'listeners (add/sub); control repairs a dead listener', meaning: 'retry attempts running now (the shared retry budget)' },
    retriesPeak: { type: 'i32', writer: 'listeners (compareExchange: max)', meaning: 'highest retriesInFlight ever reached' },
    retriesRefused: { type: 'u64', writer: 'listeners (add)', meaning: 'retries not sent because the budget was spent' },
    noBackend: { type: 'u64', writer: 'listeners (add)', meaning: 'requests answered 503 because no backend was eligible' },
    ejectionsRefused: { type: 'u64', writer: 'listeners (add)', meaning: 'ejections not made because of --max-ejected or the last eligible backend' },
    proxyHeaderRefused: { type: 'u64', writer: 'listeners (add)', meaning: 'connections closed for want of a valid PROXY protocol header (--accept-proxy-protocol)' },
    h2ResetFloods: { type: 'u64', writer: 'listeners (add)', meaning: 'HTTP/2 connections sent GOAWAY and closed for resetting streams too fast (Rapid Reset, h2/h2-server.ts)' },
    answered: {
      type: 'u64',
      cells: ERROR_CODES.length,
      writer: 'listeners (add)',
      meaning: 'requests the balancer answered itself (no backend response relayed), by ERROR_CODES index (errors.ts); 499: the client left first',
    },
  },
  64,
);

/** What a slot holds. `empty` slots are free for `addBackend`. */
export const SLOT_STATE = { empty: 0, active: 1, draining: 2, disabled: 3 } as const;
export type SlotState = keyof typeof SLOT_STATE;
export const SLOT_STATE_NAME: readonly SlotState[] = ['empty', 'active', 'draining', 'disabled'];

/** A backend's weight is a whole number from 1 to this. */
export const MAX_WEIGHT = 1000;

/** A backend's tier is a whole number from 0 (most preferred) to this: an SRV record's
 * priority is 16 bits. */
export const MAX_TIER = 65_535;

/** Passive health of a slot: `in` routes; `ejected` until `ejectedUntil`; `trial`: one
 * request (or, with active checks, the probes) decides whether it rejoins. */
export const EJECTION = { in: 0, ejected: 1, trial: 2 } as const;

export const SLOT = record(
  {
    started: { type: 'u64', writer: 'listeners (add)', meaning: 'attempts sent to this backend (retries included)' },
    failures: { type: 'u64', writer: 'listeners (add)', meaning: 'attempts that failed at this backend' },
    retries: { type: 'u64', writer: 'listeners (add)', meaning: 'attempts sent to it as a retry of a failure elsewhere' },
    ejections: { type: 'u64', writer: 'listeners (add)', meaning: 'times it was ejected (a failed trial included)' },
    trials: { type: 'u64', writer: 'listeners (add)', meaning: 'trial requests sent to it after an ejection ran out' },
    responses: {
      type: 'u64',
      cells: 5,
      writer: 'listeners (add)',
      meaning: 'responses whose head it sent, by status class: cell 0 = 1xx ... cell 4 = 5xx',
    },
    failuresBy: { type: 'u64', cells: FAILURE_REASONS.length, writer: 'listeners (add)', meaning: '`failures` by FAILURE_REASONS index' },
    latency: {
      type: 'u64',
      cells: LATENCY_BOUNDS_MICROS.length + 1,
      writer: 'listeners (add)',
      meaning: 'histogram of time to response headers: cell i counts responses in (bound i-1, bound i] of LATENCY_BOUNDS_MICROS; the last cell, those above every bound',
    },
    latencyMicros: { type: 'u64', writer: 'listeners (add)', meaning: 'sum of the times to response headers counted in `latency`, µs' },
    state: { type: 'i32', writer: 'control', meaning: 'SLOT_STATE: empty, active, draining, disabled' },
    incarnation: {
      type: 'i32',
      writer: 'control',
      meaning: 'odd while the slot is being (re)filled, even once filled; changes with every new backend in the slot',
    },
    originLength: { type: 'i32', writer: 'control', meaning: 'bytes of the origin in the origins region' },
    weight: { type: 'i32', writer: 'control', meaning: 'configured weight, 1..1000' },
    tier: {
      type: 'i32',
      writer: 'control',
      meaning: 'preference tier, 0..MAX_TIER: picks use only the lowest tier that has an eligible backend (an SRV record\'s priority; 0 for --backend and the admin API)',
    },
    healthy: { type: 'i32', writer: 'control (active checks)', meaning: '1 up, 0 marked down by --health-fall failed probes' },
    ejection: {
      type: 'i32',
      writer: 'listeners: in->ejected, ejected->trial, trial->in/ejected (compareExchange); control: ejected->in after --health-rise probes',
      meaning: 'EJECTION: in, ejected, trial',
    },
    ejectedUntil: { type: 'i32', writer: 'the ejecting listener', meaning: 'stamp (clock.ts) when the ejection ends' },
    ejectedForMs: { type: 'i32', writer: 'the ejecting listener', meaning: 'length of the current or last ejection' },
    ejectionLevel: { type: 'i32', writer: 'the ejecting listener', meaning: 'consecutive ejections: each doubles --eject-time, up to 5 minutes' },
    trialOwner: { type: 'i32', writer: 'the listener that won the trial (its index + 1); 0 none', meaning: 'who sends the one trial request' },
    rejoinedAt: { type: 'i32', writer: 'whoever makes it rejoin', meaning: 'stamp of the last rejoin (or add): slow start ramps from here' },
    ramping: { type: 'i32', writer: 'whoever makes it rejoin sets 1; control clears it after --slow-start', meaning: '1 while slow start applies' },
    consecutiveFailures: { type: 'i32', writer: 'listeners (add; store 0 on a success)', meaning: 'failures of real traffic in a row' },
    lastFailure: { type: 'i32', writer: 'listeners', meaning: 'FAILURE_REASONS index of the latest failure' },
    inFlight: { type: 'i32', writer: 'listeners (add/sub); control repairs a dead listener', meaning: 'attempts running at this backend now' },
    ewmaMicros: { type: 'i32', writer: 'listeners (compareExchange)', meaning: 'peak-EWMA of time to response headers, µs; 0 = no sample yet' },
    ewmaStamp: { type: 'i32', writer: 'listeners', meaning: 'stamp of the latest EWMA sample (for the decay)' },
  },
  64,
);

/** Listener rows are 64-byte aligned: each is written by its own thread, and two
 * threads' counters on one cache line would make every bump a cross-core miss. */
export const LISTENER = record(
  {
    connections: { type: 'u64', writer: 'that listener', meaning: 'client connections accepted' },
    requests: { type: 'u64', writer: 'that listener', meaning: 'client requests received' },
    requestsInFlight: { type: 'i32', writer: 'that listener; control zeroes it when the thread dies', meaning: "its share of header requestsInFlight" },
    retriesInFlight: { type: 'i32', writer: 'that listener; control zeroes it when the thread dies', meaning: "its share of header retriesInFlight" },
    connectionsOpen: { type: 'i32', writer: 'that listener; control zeroes it when the thread dies', meaning: 'client connections open now' },
    accepting: { type: 'i32', writer: 'that listener (1 once listening, 0 when it stops accepting); control zeroes it when the thread dies', meaning: '1 while it accepts connections' },
    tunnelsOpen: { type: 'i32', writer: 'that listener; control zeroes it when the thread dies', meaning: 'upgraded connections (WebSocket) relayed now' },
    loopDelayP99Micros: {
      type: 'i32',
      writer: 'that listener, every LOOP_DELAY_WINDOW_MS',
      meaning: 'p99 of its event-loop delay over the last window, µs (perf_hooks.monitorEventLoopDelay)',
    },
    loopDelayMaxMicros: { type: 'i32', writer: 'that listener, every LOOP_DELAY_WINDOW_MS', meaning: 'largest event-loop delay in the last window, µs' },
  },
  64,
);

/** How often a listener publishes its event-loop delay (and starts a new window). */
export const LOOP_DELAY_WINDOW_MS = 1_000;


export interface Dimensions {
  /** Slots (--max-backends). */
  readonly capacity: number;
  readonly listenerCount: number;
}

/** Byte offset of each region, for buffers of these dimensions. */
export function regions({ capacity, listenerCount }: Dimensions) {
  const slots = HEADER.bytes;
  const origins = slots + capacity * SLOT.bytes;
  const listeners = origins + capacity * ORIGIN_BYTES;
  const matrix = listeners + listenerCount * LISTENER.bytes;
  const end = matrix + Math.ceil((listenerCount * capacity * 4) / 8) * 8;
  return { slots, origins, listeners, matrix, end } as const;
}
