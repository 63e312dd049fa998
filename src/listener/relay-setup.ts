/**
 * @module Builds one listener thread's routing and relay objects over the shared state:
 * its view of the slot table, the algorithm and selector, the upstream pools and sticky
 * map that follow membership, passive health and the retry budget.
 */
import type { Config } from '../config/config.ts';
import type { RelayContext } from '../relay/relay-context.ts';
import { createAlgorithm } from '../routing/algorithms/registry.ts';
import { PassiveHealth } from '../routing/passive-health.ts';
import { RetryBudget } from '../routing/retry-budget.ts';
import { RoutingView } from '../routing/routing-view.ts';
import { Selector } from '../routing/selector.ts';
import { StickySessions } from '../routing/sticky-sessions.ts';
import type { SharedState } from '../shared/shared-state.ts';
import { Deadlines } from '../shared/deadlines.ts';
import { UpstreamPools } from '../upstream/upstream-pools.ts';

export function createRelayContext(config: Config, state: SharedState, listener: number): RelayContext {
  const { routing, health, ejection } = config;
  const view = new RoutingView(state);
  const pools = new UpstreamPools(state.capacity, config.upstream);
  const sticky = routing.sticky === null ? null : new StickySessions(routing.sticky);
  // Pools and the sticky map first: the selector's algorithm is built next, and the
  // first request of a generation must find its backend's pool.
  view.onMembership((members) => pools.update(members));
  if (sticky) view.onMembership((members) => sticky.update(members));
  const selector = new Selector(state, view, createAlgorithm(routing.algorithm, routing), {
    listener,
    trials: health === null,
    slowStartMs: routing.slowStartMs,
  });
  view.refresh();
  return {
    state,
    listener,
    pools,
    queue: config.upstream.maxConnections === null ? null : new Deadlines(config.upstream.connectMs),
    selector,
    health: new PassiveHealth(state, {
      ejectAfter: ejection.after,
      ejectTimeMs: ejection.timeMs,
      maxEjectedPercent: ejection.maxPercent,
      slowStartMs: routing.slowStartMs,
    }),
    budget: new RetryBudget(state, listener),
    sticky,
    upstream: config.upstream,
    retries: routing.retries,
    ejectOn5xx: ejection.on5xx,
    healthRetryMs: health === null ? 1_000 : health.intervalMs * health.rise,
  };
}
