/**
 * @module Weighted random draws in O(1): Vose's alias method, built once per
 * generation over the active members, and the draw loops random, power-of-two and ewma
 * share (redraw a pick that is not eligible a bounded number of times, then a weighted
 * scan of the eligible slots).
 *
 * The table is built in integers: column i holds `weight_i * n` units of its own slot
 * out of `total` (the sum of the weights), the rest of its alias. One `Math.random()`
 * gives both the column and the point within it, so each slot's probability is exactly
 * its weight over the total (to the 53-bit resolution of `Math.random`), with no
 * floating-point drift from the build.
 *
 * Redrawing a rejected draw is rejection sampling: conditioned on acceptance, the slot
 * is still drawn in proportion to its weight among the acceptable ones, and the scan
 * used after REDRAWS rejections draws from that same distribution. So the mixture is
 * exactly weight-proportional whatever the eligibility; the bound only caps the cost
 * when most of the weight is out (then the O(n) scan is the cheaper way anyway).
 */
import type { Candidates, Member } from './algorithm.ts';

/** Draws rejected before falling back to a scan. With half the weight ineligible, the
 * scan runs for 1 pick in 2^8. */
export const REDRAWS = 8;

export class AliasTable {
  /** Slot of each column. */
  readonly #slots: Int32Array;
  /** Units of a column (out of #total) that stay with its own slot. */
  readonly #keep: Float64Array;
  /** Slot a draw lands on beyond #keep. */
  readonly #alias: Int32Array;
  readonly #total: number;

  constructor(members: readonly Pick<Member, 'slot' | 'weight'>[]) {
    const n = members.length;
    this.#slots = new Int32Array(n);
    this.#keep = new Float64Array(n);
    this.#alias = new Int32Array(n);
    this.#total = members.reduce((sum, member) => sum + member.weight, 0);
    const small: number[] = [];
    const large: number[] = [];
    members.forEach((member, i) => {
      this.#slots[i] = member.slot;
      this.#alias[i] = member.slot;
      this.#keep[i] = member.weight * n;
      (member.weight * n < this.#total ? small : large).push(i);
    });
    // Each small column is topped up to #total by a large one, which gives up as many
    // units; every quantity stays an integer (at most 1024 x 1000 x 1024 < 2^53).
    while (small.length > 0 && large.length > 0) {
      const less = small.pop() as number;
      const more = large.pop() as number;
      const left = (this.#keep[more] as number) - (this.#total - (this.#keep[less] as number));
      this.#alias[less] = this.#slots[more] as number;
      this.#keep[more] = left;
      (left < this.#total ? small : large).push(more);
    }
    // What is left is exactly full (the units add up to n x total).
    for (const i of [...small, ...large]) this.#keep[i] = this.#total;
  }

  get size(): number {
    return this.#slots.length;
  }

  /** A slot in proportion to its weight; -1 when the table is empty. */
  draw(): number {
    const n = this.#slots.length;
    if (n === 0) return -1;
    const point = Math.floor(Math.random() * n * this.#total);
    const column = Math.floor(point / this.#total);
    return point - column * this.#total < (this.#keep[column] as number) ? (this.#slots[column] as number) : (this.#alias[column] as number);
  }
}

/** An eligible slot other than `except`, in proportion to weight; -1 when there is none. */
export function drawEligible(table: AliasTable, candidates: Candidates, except = -1): number {
  for (let redraw = 0; redraw < REDRAWS; redraw++) {
    const slot = table.draw();
    if (slot < 0) return -1;
    if (slot !== except && candidates.isEligible(slot)) return slot;
  }
  return scanEligible(candidates, except);
}

/** The O(n) weighted draw over `candidates.eligibleSlots()` (without `except`). */
function scanEligible(candidates: Candidates, except = -1): number {
  const eligible = candidates.eligibleSlots();
  let total = 0;
  for (const slot of eligible) if (slot !== except) total += candidates.weight(slot);
  if (total === 0) return -1;
  let point = Math.random() * total;
  for (const slot of eligible) {
    if (slot === except) continue;
    point -= candidates.weight(slot);
    if (point < 0) return slot;
  }
  // Rounding can leave `point` a hair above 0 after the last slot: take the last one.
  for (let i = eligible.length - 1; i >= 0; i--) if (eligible[i] !== except) return eligible[i] as number;
  return -1;
}
