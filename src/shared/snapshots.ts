/**
 * @module The plain-object readings `SharedState` returns for one slot and one listener
 * row: what tests, the bench, logs and the admin listener read (never the hot path).
 */
import type { SlotState } from './layout.ts';

/** Every field of one slot, read in one go (tests, the bench, logs; never the hot path). */
export interface SlotSnapshot {
  readonly slot: number;
  readonly origin: string;
  readonly state: SlotState;
  readonly weight: number;
  /** Preference tier: 0 is the most preferred (layout.ts). */
  readonly tier: number;
  readonly healthy: boolean;
  readonly ejection: number;
  readonly started: number;
  readonly failures: number;
  readonly retries: number;
  readonly ejections: number;
  readonly inFlight: number;
  readonly consecutiveFailures: number;
  readonly ewmaMicros: number;
  readonly ramping: boolean;
}

export interface ListenerSnapshot {
  readonly connections: number;
  readonly requests: number;
  readonly connectionsOpen: number;
  readonly accepting: boolean;
  /** Upgraded connections (WebSocket) open now. */
  readonly tunnelsOpen: number;
  readonly requestsInFlight: number;
  readonly loopDelayP99Micros: number;
  readonly loopDelayMaxMicros: number;
}
