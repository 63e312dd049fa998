/**
 * @module What every exchange of one listener thread shares: the shared state, this
 * thread's selector, pools, passive-health recorder and retry budget, and the settings
 * the relay applies per attempt. The settings and what is built from them are replaced
 * in place by a config reload (listener/relay-setup.ts): an exchange reads them per attempt.
 */
import type { PassiveHealth } from '../routing/passive-health.ts';
import type { RetryBudget } from '../routing/retry-budget.ts';
import type { Selector } from '../routing/selector.ts';
import type { StickySessions } from '../routing/sticky-sessions.ts';
import type { SharedState } from '../shared/shared-state.ts';
import type { Deadlines } from '../shared/deadlines.ts';
import type { UpstreamPools } from '../upstream/upstream-pools.ts';

export interface RelayContext {
  readonly state: SharedState;
  /** This listener thread's index. */
  readonly listener: number;
  readonly pools: UpstreamPools;
  /** Deadlines of requests waiting for a free upstream connection; null without --upstream-connections. */
  queue: Deadlines | null;
  selector: Selector;
  health: PassiveHealth;
  readonly budget: RetryBudget;
  /** null when --sticky-cookie is not set. */
  sticky: StickySessions | null;
  /** Connection limit and connect timeout, for the queue deadline's answer. */
  upstream: { readonly maxConnections: number | null; readonly connectMs: number; readonly sendProxyProtocol: 'v1' | 'v2' | null };
  /** --retries: tries on other backends after a failed attempt. */
  retries: number;
  /** --eject-on-5xx: a 5xx answer counts as a failure (it is still relayed). */
  ejectOn5xx: boolean;
  /** When active checks have every backend down: how long until one can be up again. */
  healthRetryMs: number;
}
