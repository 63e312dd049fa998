/**
 * @module The one place that maps an algorithm's name to its implementation.
 */
import type { RoutingConfig } from '../../config/config.ts';
import type { Algorithm } from './algorithm.ts';
import { ConsistentHash } from './consistent-hash.ts';
import { PeakEwma } from './ewma.ts';
import { LeastConnections } from './least-connections.ts';
import type { AlgorithmName } from './names.ts';
import { PowerOfTwo } from './power-of-two.ts';
import { WeightedRandom } from './random.ts';
import { RoundRobin } from './round-robin.ts';

export function createAlgorithm(name: AlgorithmName, routing: Pick<RoutingConfig, 'hashBalanceFactor'>): Algorithm {
  switch (name) {
    case 'round-robin':
      return new RoundRobin();
    case 'least-connections':
      return new LeastConnections();
    case 'power-of-two':
      return new PowerOfTwo();
    case 'ewma':
      return new PeakEwma();
    case 'random':
      return new WeightedRandom();
    case 'consistent-hash':
      return new ConsistentHash(routing.hashBalanceFactor);
  }
}
