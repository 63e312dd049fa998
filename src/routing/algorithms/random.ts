/**
 * @module Weighted random: each pick draws an active backend in proportion to its
 * weight from an alias table (alias-table.ts) built once per generation, so a pick is
 * O(1) however many backends there are. A draw that is not eligible is drawn again, a
 * bounded number of times, then the eligible backends are scanned; both keep the
 * choice exactly weight-proportional among the eligible ones. `Math.random()` is per
 * thread: nothing is shared, and nothing needs to be.
 */
import type { Algorithm, Candidates, Member, RequestContext } from './algorithm.ts';
import { AliasTable, drawEligible } from './alias-table.ts';

export class WeightedRandom implements Algorithm {
  #table = new AliasTable([]);

  build(members: readonly Member[]): void {
    this.#table = new AliasTable(members.filter((member) => member.state === 'active'));
  }

  select(candidates: Candidates, _context: RequestContext): number {
    return drawEligible(this.#table, candidates);
  }
}
