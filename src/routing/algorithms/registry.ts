/**
 * @module The one place that maps an algorithm's name to its implementation.
 */
import type { RoutingConfig } from '../../config/config.ts';
import type { Algorithm } from './algorithm.ts';
import type { AlgorithmName } from './names.ts';
import { RoundRobin } from './round-robin.ts';

export function createAlgorithm(name: AlgorithmName, _routing: Pick<RoutingConfig, 'hashBalanceFactor'>): Algorithm {
  switch (name) {
    case 'round-robin':
      return new RoundRobin();
    default:
      throw new Error(`algorithm ${name} is not built yet`);
  }
}
