/**
 * @module Typed, atomic access to the shared buffer laid out in layout.ts. Every thread
 * makes its own `SharedState` over the same buffer; it is cheap to construct. This file
 * knows offsets, not policy: what a field means and when it changes is decided by the
 * routing (data plane) and control modules that call it.
 */
import {
  HEADER,
  LISTENER,
  MAGIC,
  ORIGIN_BYTES,
  SLOT,
  SLOT_STATE,
  SLOT_STATE_NAME,
  VERSION,
  regions,
  type Dimensions,
  type SlotState,
} from './layout.ts';
import type { ListenerSnapshot, SlotSnapshot } from './snapshots.ts';

export type { ListenerSnapshot, SlotSnapshot };

export type HeaderI32 = keyof typeof HEADER.i32;
export type HeaderU64 = keyof typeof HEADER.u64;
export type SlotI32 = keyof typeof SLOT.i32;
export type SlotU64 = keyof typeof SLOT.u64;
export type ListenerI32 = keyof typeof LISTENER.i32;
export type ListenerU64 = keyof typeof LISTENER.u64;

/** The largest multiple of `total` that is at most 2^31: half of the uint32 range stays
 * free above it, so tickets taken between the fold and its repair never wrap. */
export function roundRobinWrap(total: number): number {
  return Math.floor(2 ** 31 / Math.max(1, total)) * Math.max(1, total);
}

export class SharedState {
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  readonly listenerCount: number;
  readonly #i32: Int32Array;
  readonly #u32: Uint32Array;
  readonly #u64: BigUint64Array;
  readonly #bytes: Buffer;
  readonly #slotsAt: number;
  readonly #originsAt: number;
  readonly #listenersAt: number;
  readonly #matrixAt: number;

  /** Creates and initialises a new buffer (main thread): every slot empty. */
  static create(dimensions: Dimensions): SharedState {
    const { capacity, listenerCount } = dimensions;
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    if (!Number.isInteger(listenerCount) || listenerCount < 1) throw new RangeError(`listenerCount must be a positive integer, got ${listenerCount}`);
    const buffer = new SharedArrayBuffer(regions(dimensions).end);
    const header = new Int32Array(buffer, 0, HEADER.bytes / 4);
    header[HEADER.i32.magic] = MAGIC;
    header[HEADER.i32.version] = VERSION;
    header[HEADER.i32.capacity] = capacity;
    header[HEADER.i32.listenerCount] = listenerCount;
    new Uint32Array(buffer, 0, HEADER.bytes / 4)[HEADER.u32.rrWrap] = roundRobinWrap(1);
    return new SharedState(buffer);
  }

  /** Attaches to a buffer made by `create` (any thread). */
  constructor(buffer: SharedArrayBuffer) {
    const header = new Int32Array(buffer, 0, HEADER.bytes / 4);
    if (header[HEADER.i32.magic] !== MAGIC || header[HEADER.i32.version] !== VERSION) {
      throw new TypeError('not a switchyard shared-state buffer (magic or version mismatch)');
    }
    this.buffer = buffer;
    this.capacity = header[HEADER.i32.capacity] ?? 0;
    this.listenerCount = header[HEADER.i32.listenerCount] ?? 0;
    this.#i32 = new Int32Array(buffer);
    this.#u32 = new Uint32Array(buffer);
    this.#u64 = new BigUint64Array(buffer, 0, Math.floor(buffer.byteLength / 8));
    this.#bytes = Buffer.from(buffer);
    const at = regions(this);
    this.#slotsAt = at.slots;
    this.#originsAt = at.origins;
    this.#listenersAt = at.listeners;
    this.#matrixAt = at.matrix;
  }

  // --- header ------------------------------------------------------------------------

  header(field: HeaderI32): number {
    return Atomics.load(this.#i32, HEADER.i32[field]);
  }

  headerStore(field: HeaderI32, value: number): void {
    Atomics.store(this.#i32, HEADER.i32[field], value);
  }

  /** Adds `delta`; returns the value before. */
  headerAdd(field: HeaderI32, delta: number): number {
    return Atomics.add(this.#i32, HEADER.i32[field], delta);
  }

  /** Stores `replacement` if the field holds `expected`; returns what it held. */
  headerCas(field: HeaderI32, expected: number, replacement: number): number {
    return Atomics.compareExchange(this.#i32, HEADER.i32[field], expected, replacement);
  }

  headerCount(field: HeaderU64): number {
    return Number(Atomics.load(this.#u64, HEADER.u64[field]));
  }

  /** Adds 1 to the header counter `field`, or to its cell `cell` when it is an array. */
  headerBump(field: HeaderU64, cell = 0): void {
    Atomics.add(this.#u64, HEADER.u64[field] + cell, 1n);
  }

  headerCountAt(field: HeaderU64, cell: number): number {
    return Number(Atomics.load(this.#u64, HEADER.u64[field] + cell));
  }

  /** Publishes a routing change: every listener rebuilds its view on its next pick, and
   * the main thread's event log (waiting with `Atomics.waitAsync`) wakes up. */
  publish(): void {
    Atomics.add(this.#i32, HEADER.i32.stateEpoch, 1);
    Atomics.notify(this.#i32, HEADER.i32.stateEpoch);
  }

  /** The epoch as an Int32Array cell, for `Atomics.waitAsync` (main thread only). */
  epochCell(): { readonly array: Int32Array; readonly index: number } {
    return { array: this.#i32, index: HEADER.i32.stateEpoch };
  }

  // --- round-robin ticket (see routing/algorithms/round-robin.ts) --------------------

  /** Takes a raw ticket: the counter's value before this call's increment. */
  addRoundRobin(delta: number): number {
    return Atomics.add(this.#u32, HEADER.u32.rrNext, delta);
  }

  subRoundRobin(delta: number): void {
    Atomics.sub(this.#u32, HEADER.u32.rrNext, delta);
  }

  get roundRobinWrap(): number {
    return Atomics.load(this.#u32, HEADER.u32.rrWrap);
  }

  getRoundRobinNext(): number {
    return Atomics.load(this.#u32, HEADER.u32.rrNext);
  }

  /** Control, before publishing a generation; tests and benches that start near the fold. */
  setRoundRobin(next: number, wrap = this.roundRobinWrap): void {
    Atomics.store(this.#u32, HEADER.u32.rrWrap, wrap >>> 0);
    Atomics.store(this.#u32, HEADER.u32.rrNext, next >>> 0);
  }

  // --- slots ---------------------------------------------------------------------------

  load(slot: number, field: SlotI32): number {
    return Atomics.load(this.#i32, (this.#slotsAt + slot * SLOT.bytes) / 4 + SLOT.i32[field]);
  }

  store(slot: number, field: SlotI32, value: number): void {
    Atomics.store(this.#i32, (this.#slotsAt + slot * SLOT.bytes) / 4 + SLOT.i32[field], value);
  }

  /** Adds `delta` (negative to subtract); returns the value before. */
  add(slot: number, field: SlotI32, delta: number): number {
    return Atomics.add(this.#i32, (this.#slotsAt + slot * SLOT.bytes) / 4 + SLOT.i32[field], delta);
  }

  /** Stores `replacement` if the field holds `expected`; returns what it held. */
  cas(slot: number, field: SlotI32, expected: number, replacement: number): number {
    return Atomics.compareExchange(this.#i32, (this.#slotsAt + slot * SLOT.bytes) / 4 + SLOT.i32[field], expected, replacement);
  }

  /** A u64 counter, or cell `cell` of an array of them (layout.ts `cells`). */
  count(slot: number, field: SlotU64, cell = 0): number {
    return Number(Atomics.load(this.#u64, (this.#slotsAt + slot * SLOT.bytes) / 8 + SLOT.u64[field] + cell));
  }

  bump(slot: number, field: SlotU64, cell = 0): void {
    Atomics.add(this.#u64, (this.#slotsAt + slot * SLOT.bytes) / 8 + SLOT.u64[field] + cell, 1n);
  }

  /** Adds `amount` (a whole number ≥ 0) to a u64 counter such as a sum of µs. */
  addCount(slot: number, field: SlotU64, amount: number): void {
    Atomics.add(this.#u64, (this.#slotsAt + slot * SLOT.bytes) / 8 + SLOT.u64[field], BigInt(amount));
  }

  /**
   * Control only, while the slot's incarnation is odd: zeroes every field of the slot
   * but its incarnation and in-flight count. A request that picked the slot just before
   * its backend was removed still ends against it; its decrement must find its increment.
   */
  clearSlot(slot: number): void {
    const from = (this.#slotsAt + slot * SLOT.bytes) / 4;
    const kept = new Set([SLOT.i32.incarnation, SLOT.i32.inFlight]);
    for (let i = 0; i < SLOT.bytes / 4; i++) if (!kept.has(i)) Atomics.store(this.#i32, from + i, 0);
  }

  slotState(slot: number): SlotState {
    return SLOT_STATE_NAME[this.load(slot, 'state')] ?? 'empty';
  }

  /** The slot's origin as last written. Plain reads: the caller checks the incarnation
   * before and after (routing/routing-view.ts) to know it was not being rewritten. */
  origin(slot: number): string {
    const length = this.load(slot, 'originLength');
    const at = this.#originsAt + slot * ORIGIN_BYTES;
    return this.#bytes.toString('latin1', at, at + Math.min(length, ORIGIN_BYTES));
  }

  /** Control only, while the slot's incarnation is odd. */
  writeOrigin(slot: number, origin: string): void {
    if (origin.length > ORIGIN_BYTES || !/^[\x21-\x7e]+$/.test(origin)) throw new RangeError(`origin ${JSON.stringify(origin)} does not fit a slot`);
    this.#bytes.write(origin, this.#originsAt + slot * ORIGIN_BYTES, 'latin1');
    this.store(slot, 'originLength', origin.length);
  }

  snapshot(slot: number): SlotSnapshot {
    return {
      slot,
      origin: this.origin(slot),
      state: this.slotState(slot),
      weight: this.load(slot, 'weight'),
      tier: this.load(slot, 'tier'),
      healthy: this.load(slot, 'healthy') === 1,
      ejection: this.load(slot, 'ejection'),
      started: this.count(slot, 'started'),
      failures: this.count(slot, 'failures'),
      retries: this.count(slot, 'retries'),
      ejections: this.count(slot, 'ejections'),
      inFlight: this.load(slot, 'inFlight'),
      consecutiveFailures: this.load(slot, 'consecutiveFailures'),
      ewmaMicros: this.load(slot, 'ewmaMicros'),
      ramping: this.load(slot, 'ramping') === 1,
    };
  }

  /** Every filled slot, in slot order. */
  backends(): SlotSnapshot[] {
    const filled: SlotSnapshot[] = [];
    for (let slot = 0; slot < this.capacity; slot++) if (this.load(slot, 'state') !== SLOT_STATE.empty) filled.push(this.snapshot(slot));
    return filled;
  }

  /** The filled slot holding `origin`, or -1. */
  slotOf(origin: string): number {
    for (let slot = 0; slot < this.capacity; slot++) {
      if (this.load(slot, 'state') !== SLOT_STATE.empty && this.origin(slot) === origin) return slot;
    }
    return -1;
  }

  // --- listener rows -----------------------------------------------------------------

  listenerAdd(listener: number, field: ListenerI32, delta: number): void {
    Atomics.add(this.#i32, (this.#listenersAt + listener * LISTENER.bytes) / 4 + LISTENER.i32[field], delta);
  }

  listenerStore(listener: number, field: ListenerI32, value: number): void {
    Atomics.store(this.#i32, (this.#listenersAt + listener * LISTENER.bytes) / 4 + LISTENER.i32[field], value);
  }

  listenerLoad(listener: number, field: ListenerI32): number {
    return Atomics.load(this.#i32, (this.#listenersAt + listener * LISTENER.bytes) / 4 + LISTENER.i32[field]);
  }

  /** Sets the field to 0; returns what it held. */
  listenerTake(listener: number, field: ListenerI32): number {
    return Atomics.exchange(this.#i32, (this.#listenersAt + listener * LISTENER.bytes) / 4 + LISTENER.i32[field], 0);
  }

  listenerBump(listener: number, field: ListenerU64): void {
    Atomics.add(this.#u64, (this.#listenersAt + listener * LISTENER.bytes) / 8 + LISTENER.u64[field], 1n);
  }

  listener(listener: number): ListenerSnapshot {
    const at = (this.#listenersAt + listener * LISTENER.bytes) / 8;
    return {
      connections: Number(Atomics.load(this.#u64, at + LISTENER.u64.connections)),
      requests: Number(Atomics.load(this.#u64, at + LISTENER.u64.requests)),
      connectionsOpen: this.listenerLoad(listener, 'connectionsOpen'),
      accepting: this.listenerLoad(listener, 'accepting') === 1,
      tunnelsOpen: this.listenerLoad(listener, 'tunnelsOpen'),
      requestsInFlight: this.listenerLoad(listener, 'requestsInFlight'),
      loopDelayP99Micros: this.listenerLoad(listener, 'loopDelayP99Micros'),
      loopDelayMaxMicros: this.listenerLoad(listener, 'loopDelayMaxMicros'),
    };
  }

  listeners(): ListenerSnapshot[] {
    return Array.from({ length: this.listenerCount }, (_, l) => this.listener(l));
  }

  // --- in flight by listener x slot --------------------------------------------------

  matrixAdd(listener: number, slot: number, delta: number): void {
    Atomics.add(this.#i32, this.#matrixAt / 4 + listener * this.capacity + slot, delta);
  }

  /** Sets the cell to 0; returns what it held. */
  matrixTake(listener: number, slot: number): number {
    return Atomics.exchange(this.#i32, this.#matrixAt / 4 + listener * this.capacity + slot, 0);
  }
}
