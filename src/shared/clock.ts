/**
 * @module Time as every thread of the process sees it, and how the shared table stores it.
 *
 * `now()` is milliseconds of the monotonic clock (CLOCK_MONOTONIC), the same in every
 * thread: `performance.now()` counts from each thread's own start, so each thread adds
 * its own offset, measured once. The wall clock (`Date.now()`) would do, but it jumps
 * when the system time is set, and an ejection must not end early because of that.
 *
 * The shared table keeps instants as 32-bit stamps (an int32 is what `Atomics` handles
 * without BigInt), compared with serial-number arithmetic (RFC 1982): a stamp wraps
 * every 49.7 days, and the difference of two stamps is exact for spans below 24.8 days.
 * Every span the table holds (an ejection, at most 5 minutes; a slow start) is far
 * shorter.
 */

const offset = Number(process.hrtime.bigint() / 1_000_000n) - performance.now();

/** Monotonic milliseconds, comparable across the threads of this process. */
export function now(): number {
  return offset + performance.now();
}

/** The 32-bit stamp of an instant from `now()`. */
export function stamp(ms: number): number {
  return Math.floor(ms) | 0;
}

/** Milliseconds from stamp `from` to stamp `to` (negative when `to` is earlier). */
export function between(from: number, to: number): number {
  return (to - from) | 0;
}
