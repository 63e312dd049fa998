/**
 * @module The algorithm names the command line accepts (a leaf: the CLI needs the
 * names without loading the algorithms).
 */

export const ALGORITHMS = ['round-robin', 'least-connections', 'power-of-two', 'ewma', 'random', 'consistent-hash'] as const;
export type AlgorithmName = (typeof ALGORITHMS)[number];
