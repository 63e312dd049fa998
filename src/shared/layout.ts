/**
 * @module The one definition of switchyard's shared memory: every offset, what each slot
 * holds and which thread writes it. Everything else goes through `SharedState`.
 *
 * One `SharedArrayBuffer`, created by the main thread and handed to every listener
 * thread. Listener threads only `load`, `add`, `sub` and `compareExchange` it; nothing
 * here ever blocks (no `Atomics.wait`), because listener threads also serve sockets.
 *
 * ```
 * byte offset                       slot (type)             written by
 * ---------------------------------------------------------------------------------
 * HEADER (64 bytes, int32 slots)
 *   0   MAGIC                        int32  'SWYD'           main, at creation
 *   4   VERSION                      int32                   main, at creation
 *   8   BACKEND_COUNT                int32                   main, at creation
 *   12  LISTENER_COUNT               int32                   main, at creation
 *   16  RR_NEXT                      uint32 next round-robin listeners (Atomics.add/sub)
 *                                           ticket; see picker/round-robin.ts
 *   20  RR_WRAP                      uint32 where RR_NEXT     main, at creation
 *                                           folds back to 0
 *   24..63 reserved (0)
 *
 * BACKENDS (BACKEND_COUNT x 32 bytes, from byte 64)
 *   +0  STARTED     uint64  requests sent to it           listeners (Atomics.add)
 *   +8  FAILURES    uint64  requests that failed at it    listeners (Atomics.add)
 *   +16 IN_FLIGHT   int32   requests running now          listeners (add/sub);
 *                                                          main repairs it when a
 *                                                          listener thread dies
 *   +20 HEALTHY     int32   1 = may be picked, 0 = down   main at creation (1);
 *                                                          the health checker later
 *   +24 WEIGHT      int32   relative weight (default 1)   main at creation
 *   +28 reserved
 *
 * LISTENERS (LISTENER_COUNT x 16 bytes)
 *   +0  CONNECTIONS uint64  connections accepted          that listener only
 *   +8  REQUESTS    uint64  requests received             that listener only
 *
 * IN_FLIGHT_BY_LISTENER (LISTENER_COUNT x BACKEND_COUNT int32, padded to 8 bytes)
 *   [l][b]          int32   requests of listener l        listener l (add/sub);
 *                           running at backend b          main zeroes the row when
 *                                                          listener l dies
 * ```
 *
 * Why the per-listener in-flight rows: a listener thread that dies cannot decrement the
 * gauges for the requests it had running. Its row says exactly how many those were, so
 * the supervisor subtracts the row from IN_FLIGHT and the gauge stays true.
 *
 * 64-bit counters never wrap in practice (584 years at a billion per second); the
 * round-robin ticket is 32-bit on purpose, because a 32-bit `Atomics.add` is the cheapest
 * operation the picker can do, and it folds back to 0 at RR_WRAP, a multiple of the
 * backend count, so that `ticket % n` stays exact across the fold.
 */

const MAGIC = 0x53575944; // 'SWYD'
const VERSION = 1;

const HEADER_BYTES = 64;
const H_MAGIC = 0;
const H_VERSION = 1;
const H_BACKEND_COUNT = 2;
const H_LISTENER_COUNT = 3;
const H_RR_NEXT = 4;
const H_RR_WRAP = 5;

const BACKEND_STRIDE = 32;
const B_STARTED = 0; // uint64 index within the record (x8 bytes)
const B_FAILURES = 1;
const B_IN_FLIGHT = 4; // int32 index within the record (x4 bytes)
const B_HEALTHY = 5;
const B_WEIGHT = 6;

const LISTENER_STRIDE = 16;
const L_CONNECTIONS = 0;
const L_REQUESTS = 1;

/** The largest multiple of `backendCount` that is at most 2^31: half of the uint32 range
 * stays free above it, so tickets taken between the fold and its repair never wrap. */
export function roundRobinWrap(backendCount: number): number {
  return Math.floor(2 ** 31 / backendCount) * backendCount;
}

export interface Dimensions {
  readonly backendCount: number;
  readonly listenerCount: number;
}

function byteLength({ backendCount, listenerCount }: Dimensions): number {
  const matrix = listenerCount * backendCount * 4;
  return HEADER_BYTES + backendCount * BACKEND_STRIDE + listenerCount * LISTENER_STRIDE + Math.ceil(matrix / 8) * 8;
}

/** Per-backend figures, read in one go (for tests, the bench and, later, metrics). */
export interface BackendSnapshot {
  readonly started: number;
  readonly failures: number;
  readonly inFlight: number;
  readonly healthy: boolean;
  readonly weight: number;
}

export interface ListenerSnapshot {
  readonly connections: number;
  readonly requests: number;
}

/** Typed access to the shared buffer. Cheap to construct: every thread makes its own. */
export class SharedState {
  readonly buffer: SharedArrayBuffer;
  readonly backendCount: number;
  readonly listenerCount: number;
  readonly #i32: Int32Array;
  readonly #u32: Uint32Array;
  readonly #u64: BigUint64Array;
  readonly #backendsAt: number; // byte offsets of each region
  readonly #listenersAt: number;
  readonly #matrixAt: number;

  /** Creates and initialises a new buffer (main thread). */
  static create(dimensions: Dimensions): SharedState {
    const { backendCount, listenerCount } = dimensions;
    if (!Number.isInteger(backendCount) || backendCount < 1) throw new RangeError(`backendCount must be a positive integer, got ${backendCount}`);
    if (!Number.isInteger(listenerCount) || listenerCount < 1) throw new RangeError(`listenerCount must be a positive integer, got ${listenerCount}`);
    const buffer = new SharedArrayBuffer(byteLength(dimensions));
    const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    header[H_MAGIC] = MAGIC;
    header[H_VERSION] = VERSION;
    header[H_BACKEND_COUNT] = backendCount;
    header[H_LISTENER_COUNT] = listenerCount;
    new Uint32Array(buffer, 0, HEADER_BYTES / 4)[H_RR_WRAP] = roundRobinWrap(backendCount);
    const state = new SharedState(buffer);
    for (let b = 0; b < backendCount; b++) {
      state.setHealthy(b, true);
      state.setWeight(b, 1);
    }
    return state;
  }

  /** Attaches to a buffer made by `create` (any thread). */
  constructor(buffer: SharedArrayBuffer) {
    const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    if (header[H_MAGIC] !== MAGIC || header[H_VERSION] !== VERSION) {
      throw new TypeError('not a switchyard shared-state buffer (magic or version mismatch)');
    }
    this.buffer = buffer;
    this.backendCount = header[H_BACKEND_COUNT] ?? 0;
    this.listenerCount = header[H_LISTENER_COUNT] ?? 0;
    this.#i32 = new Int32Array(buffer);
    this.#u32 = new Uint32Array(buffer);
    this.#u64 = new BigUint64Array(buffer, 0, Math.floor(buffer.byteLength / 8));
    this.#backendsAt = HEADER_BYTES;
    this.#listenersAt = this.#backendsAt + this.backendCount * BACKEND_STRIDE;
    this.#matrixAt = this.#listenersAt + this.listenerCount * LISTENER_STRIDE;
  }

  // --- round robin ---------------------------------------------------------------

  /** Takes the next raw ticket: the counter's value before this call's increment. */
  addRoundRobin(delta: number): number {
    return Atomics.add(this.#u32, H_RR_NEXT, delta);
  }

  /** Undoes a fold's worth of tickets (see picker/round-robin.ts). */
  subRoundRobin(delta: number): void {
    Atomics.sub(this.#u32, H_RR_NEXT, delta);
  }

  get roundRobinWrap(): number {
    return Atomics.load(this.#u32, H_RR_WRAP);
  }

  /** Sets the counter; for tests and benchmarks that start it near its fold. */
  setRoundRobinNext(value: number): void {
    Atomics.store(this.#u32, H_RR_NEXT, value >>> 0);
  }

  getRoundRobinNext(): number {
    return Atomics.load(this.#u32, H_RR_NEXT);
  }

  // --- per backend -----------------------------------------------------------------

  /** A request from listener `listener` is about to be sent to backend `backend`. */
  requestStarted(listener: number, backend: number): void {
    const at = this.#backendsAt + backend * BACKEND_STRIDE;
    Atomics.add(this.#u64, at / 8 + B_STARTED, 1n);
    Atomics.add(this.#i32, at / 4 + B_IN_FLIGHT, 1);
    Atomics.add(this.#i32, this.#matrixIndex(listener, backend), 1);
  }

  /** That request is over; `failed` when the backend, not the client, caused its end. */
  requestEnded(listener: number, backend: number, failed: boolean): void {
    const at = this.#backendsAt + backend * BACKEND_STRIDE;
    Atomics.sub(this.#i32, at / 4 + B_IN_FLIGHT, 1);
    Atomics.sub(this.#i32, this.#matrixIndex(listener, backend), 1);
    if (failed) Atomics.add(this.#u64, at / 8 + B_FAILURES, 1n);
  }

  inFlight(backend: number): number {
    return Atomics.load(this.#i32, (this.#backendsAt + backend * BACKEND_STRIDE) / 4 + B_IN_FLIGHT);
  }

  isHealthy(backend: number): boolean {
    return Atomics.load(this.#i32, (this.#backendsAt + backend * BACKEND_STRIDE) / 4 + B_HEALTHY) === 1;
  }

  setHealthy(backend: number, healthy: boolean): void {
    Atomics.store(this.#i32, (this.#backendsAt + backend * BACKEND_STRIDE) / 4 + B_HEALTHY, healthy ? 1 : 0);
  }

  weight(backend: number): number {
    return Atomics.load(this.#i32, (this.#backendsAt + backend * BACKEND_STRIDE) / 4 + B_WEIGHT);
  }

  setWeight(backend: number, weight: number): void {
    Atomics.store(this.#i32, (this.#backendsAt + backend * BACKEND_STRIDE) / 4 + B_WEIGHT, weight);
  }

  backend(backend: number): BackendSnapshot {
    const at = this.#backendsAt + backend * BACKEND_STRIDE;
    return {
      started: Number(Atomics.load(this.#u64, at / 8 + B_STARTED)),
      failures: Number(Atomics.load(this.#u64, at / 8 + B_FAILURES)),
      inFlight: Atomics.load(this.#i32, at / 4 + B_IN_FLIGHT),
      healthy: Atomics.load(this.#i32, at / 4 + B_HEALTHY) === 1,
      weight: Atomics.load(this.#i32, at / 4 + B_WEIGHT),
    };
  }

  backends(): BackendSnapshot[] {
    return Array.from({ length: this.backendCount }, (_, b) => this.backend(b));
  }

  // --- per listener ----------------------------------------------------------------

  connectionAccepted(listener: number): void {
    Atomics.add(this.#u64, (this.#listenersAt + listener * LISTENER_STRIDE) / 8 + L_CONNECTIONS, 1n);
  }

  requestReceived(listener: number): void {
    Atomics.add(this.#u64, (this.#listenersAt + listener * LISTENER_STRIDE) / 8 + L_REQUESTS, 1n);
  }

  listener(listener: number): ListenerSnapshot {
    const at = (this.#listenersAt + listener * LISTENER_STRIDE) / 8;
    return {
      connections: Number(Atomics.load(this.#u64, at + L_CONNECTIONS)),
      requests: Number(Atomics.load(this.#u64, at + L_REQUESTS)),
    };
  }

  listeners(): ListenerSnapshot[] {
    return Array.from({ length: this.listenerCount }, (_, l) => this.listener(l));
  }

  /** Main thread, after listener `listener` died: gives back the in-flight counts it can
   * no longer release itself. Returns how many requests it had running. */
  releaseListener(listener: number): number {
    let released = 0;
    for (let b = 0; b < this.backendCount; b++) {
      const cell = this.#matrixIndex(listener, b);
      const stranded = Atomics.exchange(this.#i32, cell, 0);
      if (stranded !== 0) {
        Atomics.sub(this.#i32, (this.#backendsAt + b * BACKEND_STRIDE) / 4 + B_IN_FLIGHT, stranded);
        released += stranded;
      }
    }
    return released;
  }

  #matrixIndex(listener: number, backend: number): number {
    return this.#matrixAt / 4 + listener * this.backendCount + backend;
  }
}
