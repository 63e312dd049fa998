/**
 * @module Builds one listener thread's routing and relay objects over the shared state:
 * its view of the slot table, the algorithm and selector, the upstream pools and sticky
 * map that follow membership, passive health and the retry budget; and rebuilds what a
 * config reload changes, in place, for the requests that come next.
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

export interface RelaySetup {
  readonly context: RelayContext;
  /** Applies a reloaded config to the requests that come next (and the retries of those in
   * flight): algorithm, sticky sessions, passive health, retries, upstream settings. Kept
   * backends keep their pools, their counters and their latency (all in shared memory). */
  reconfigure(config: Config): void;
}

export function createRelayContext(config: Config, state: SharedState, listener: number): RelaySetup {
  const view = new RoutingView(state);
  const pools = new UpstreamPools(state.capacity, config.upstream);
  // Pools first: the selector's algorithm is built next, and the first request of a
  // generation must find its backend's pool.
  view.onMembership((members) => pools.update(members));
  let unsubscribeSticky = (): void => {};
  const sticky = (next: Config): StickySessions | null => {
    unsubscribeSticky();
    if (next.routing.sticky === null) return null;
    const made = new StickySessions(next.routing.sticky);
    unsubscribeSticky = view.onMembership((members) => made.update(members));
    return made;
  };
  const selector = (next: Config): Selector =>
    new Selector(state, view, createAlgorithm(next.routing.algorithm, next.routing), { listener, trials: next.health === null, slowStartMs: next.routing.slowStartMs });
  const health = ({ ejection, routing }: Config): PassiveHealth =>
    new PassiveHealth(state, { ejectAfter: ejection.after, ejectTimeMs: ejection.timeMs, maxEjectedPercent: ejection.maxPercent, slowStartMs: routing.slowStartMs });
  const healthRetryMs = ({ health: checks }: Config): number => (checks === null ? 1_000 : checks.intervalMs * checks.rise);

  const context: RelayContext = {
    state,
    listener,
    pools,
    queue: config.upstream.maxConnections === null ? null : new Deadlines(config.upstream.connectMs),
    sticky: sticky(config),
    selector: selector(config),
    health: health(config),
    budget: new RetryBudget(state, listener),
    upstream: config.upstream,
    retries: config.routing.retries,
    ejectOn5xx: config.ejection.on5xx,
    healthRetryMs: healthRetryMs(config),
  };
  view.refresh();

  return {
    context,
    reconfigure(next: Config): void {
      pools.reconfigure(next.upstream);
      // A request waiting in the old queue is timed there still (the exchange keeps it).
      context.queue = next.upstream.maxConnections === null ? null : new Deadlines(next.upstream.connectMs);
      context.sticky = sticky(next);
      context.selector.dispose();
      context.selector = selector(next);
      context.health = health(next);
      context.upstream = next.upstream;
      context.retries = next.routing.retries;
      context.ejectOn5xx = next.ejection.on5xx;
      context.healthRetryMs = healthRetryMs(next);
    },
  };
}
