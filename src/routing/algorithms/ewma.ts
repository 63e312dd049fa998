/**
 * @module Peak-EWMA (Finagle's and Linkerd's balancer): power of two choices on a cost
 * that grows with both latency and load. The latency is the peak-EWMA every listener
 * thread feeds into shared memory (routing/latency.ts), so each thread learns from
 * every response, and it decays while a backend is not picked, so a backend slow once
 * is tried again rather than shunned.
 *
 * The cost of a backend is `latency x (in flight / weight + 1 / w)`, where w is the
 * larger weight of the two drawn: its load per unit of weight, plus this request. With
 * equal weights that is Finagle's `latency x (in flight + 1)` scaled by 1 / weight.
 * The request is counted as the same 1 / w on both sides, not as 1 / its own weight,
 * so that two idle backends of equal latency tie whatever their weights: the tie goes
 * to the first draw, which is drawn in proportion to weight, and a lightly loaded
 * cluster splits by weight. (Counting it as 1 / own weight would make the heavier of
 * any idle pair win every time: weights 5 and 1 would split 100 : 0 whenever requests
 * end before the next one starts.) Under load, `in flight / weight` dominates and the
 * requests in flight settle in proportion to weight / latency.
 *
 * A backend with no sample yet (estimate 0) would cost 0 and take every request, or,
 * given a guessed latency, be shunned or flooded depending on the guess. When either
 * of the two has no sample, the pair is compared on load per weight alone (power of
 * two on load): the newcomer takes its share and soon has a sample.
 *
 * Costs are compared cross-multiplied by the weights (whole numbers), so only the
 * latencies are floating-point.
 */
import { latencyEstimate } from '../latency.ts';
import type { Algorithm, Candidates, Member, RequestContext } from './algorithm.ts';
import { AliasTable, drawEligible } from './alias-table.ts';

export class PeakEwma implements Algorithm {
  #table = new AliasTable([]);

  build(members: readonly Member[]): void {
    this.#table = new AliasTable(members.filter((member) => member.state === 'active'));
  }

  select(candidates: Candidates, context: RequestContext): number {
    const first = drawEligible(this.#table, candidates);
    if (first < 0) return -1;
    const second = drawEligible(this.#table, candidates, first);
    if (second < 0) return first;
    const { state } = candidates;
    const firstWeight = candidates.weight(first);
    const secondWeight = candidates.weight(second);
    const unit = Math.max(firstWeight, secondWeight);
    // (in flight / weight + 1 / unit), both multiplied by firstWeight x secondWeight x unit.
    let firstCost = (state.load(first, 'inFlight') * unit + firstWeight) * secondWeight;
    let secondCost = (state.load(second, 'inFlight') * unit + secondWeight) * firstWeight;
    const firstLatency = latencyEstimate(state, first, context.now);
    const secondLatency = latencyEstimate(state, second, context.now);
    if (firstLatency > 0 && secondLatency > 0) {
      firstCost *= firstLatency;
      secondCost *= secondLatency;
    }
    return secondCost < firstCost ? second : first;
  }
}
