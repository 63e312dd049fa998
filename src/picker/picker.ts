/**
 * @module The interface every balancing algorithm implements, and the one place that
 * maps an algorithm's name to its implementation.
 */
import type { SharedState } from '../shared/layout.ts';
import { RoundRobinPicker } from './round-robin.ts';

/** Chooses the backend for the next request, from shared state only: no locks, no
 * messages, and never a blocking wait. */
export interface Picker {
  /** The index of the backend to use, or -1 when no backend may be picked. */
  pick(): number;
}

export const ALGORITHMS = ['round-robin'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

export function createPicker(algorithm: Algorithm, state: SharedState): Picker {
  switch (algorithm) {
    case 'round-robin':
      return new RoundRobinPicker(state);
  }
}
