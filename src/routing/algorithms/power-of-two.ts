/**
 * @module Power of two choices (Envoy's least-request with its default choice count of
 * 2): draw two distinct eligible backends in proportion to weight, send the request to
 * the one with fewer requests in flight per unit of weight, counted across every
 * listener thread. O(1) per pick for any table size (two alias-table draws and two
 * loads), and it avoids the herd a full least-connections scan causes when many
 * threads read the same minimum at once.
 *
 * On a tie the first draw wins: an idle cluster then gets a plain weighted random
 * split, rather than one biased toward whichever slot a comparison favours. Loads per
 * weight are compared by cross-multiplying integers (a x wb against b x wa), so no
 * float rounding decides a tie.
 */
import type { Algorithm, Candidates, Member, RequestContext } from './algorithm.ts';
import { AliasTable, drawEligible } from './alias-table.ts';

export class PowerOfTwo implements Algorithm {
  #table = new AliasTable([]);

  build(members: readonly Member[]): void {
    this.#table = new AliasTable(members.filter((member) => member.state === 'active'));
  }

  select(candidates: Candidates, _context: RequestContext): number {
    const first = drawEligible(this.#table, candidates);
    if (first < 0) return -1;
    const second = drawEligible(this.#table, candidates, first);
    if (second < 0) return first;
    const { state } = candidates;
    const firstLoad = state.load(first, 'inFlight') * candidates.weight(second);
    const secondLoad = state.load(second, 'inFlight') * candidates.weight(first);
    return secondLoad < firstLoad ? second : first;
  }
}
