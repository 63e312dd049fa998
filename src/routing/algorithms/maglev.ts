/**
 * @module The Maglev lookup table (Eisenbud et al., NSDI 2016), weighted as Envoy's
 * `maglev_lb.cc` does: a table of a prime number of entries, each naming a backend,
 * filled by letting the backends take turns claiming the next free entry of their own
 * permutation of the table. A backend takes a turn in proportion to its weight (one
 * of weight w fills, by iteration i, 1 + floor(i x w / max weight) entries), so its
 * share of the table, and of the keys, is its share of the total weight, within one
 * entry.
 *
 * Removing one of n backends frees its entries, which the others claim; the others
 * keep almost all of theirs, because each backend's permutation does not depend on the
 * rest. About 1/n of the keys move, plus a small disruption the paper bounds by the
 * table size (measured in test/routing/consistent-hash.test.ts).
 *
 * Nothing depends on the process or on slot numbers: backends take their turns in the
 * order of their origins, and each permutation (offset, skip) comes from the SHA-256 of
 * the origin. Two switchyard processes with the same backends build the same table.
 */
import { createHash } from 'node:crypto';

/** Entries: a prime (so every skip from 1 to SIZE - 1 walks the whole table), Envoy's
 * default. The paper asks for more than 100 entries per backend for a share within
 * about 1% of the weight: up to 655 equal backends; --max-backends allows 1024, where
 * the shares are still within a few percent. */
export const MAGLEV_SIZE = 65_537;

export interface MaglevBackend {
  readonly origin: string;
  readonly weight: number;
}

/**
 * Each entry's index into `backends` as they are given, for a table of `size` entries.
 * The order of `backends` does not matter: turns go by origin.
 */
export function buildMaglev(backends: readonly MaglevBackend[], size = MAGLEV_SIZE): Int32Array {
  const table = new Int32Array(backends.length === 0 ? 0 : size).fill(-1);
  if (backends.length === 0) return table;
  const order = backends.map((_, i) => i).sort((a, b) => compareOrigins(backends[a] as MaglevBackend, backends[b] as MaglevBackend));
  const n = order.length;
  const weights = new Float64Array(n);
  const position = new Float64Array(n);
  const skip = new Float64Array(n);
  const target = new Float64Array(n);
  order.forEach((index, i) => {
    const backend = backends[index] as MaglevBackend;
    const digest = createHash('sha256').update(backend.origin).digest();
    weights[i] = backend.weight;
    position[i] = digest.readUInt32BE(0) % size;
    skip[i] = (digest.readUInt32BE(4) % (size - 1)) + 1;
  });
  const maxWeight = Math.max(...weights);
  let filled = 0;
  for (let iteration = 1; filled < size; iteration++) {
    for (let i = 0; i < n && filled < size; i++) {
      // A backend of the largest weight takes every turn; one of a third of it, every third.
      if (iteration * (weights[i] as number) < (target[i] as number)) continue;
      target[i] = (target[i] as number) + maxWeight;
      let entry = position[i] as number;
      while ((table[entry] as number) >= 0) entry = (entry + (skip[i] as number)) % size;
      table[entry] = order[i] as number;
      position[i] = (entry + (skip[i] as number)) % size;
      filled++;
    }
  }
  return table;
}

/** Code-unit order: the same in every process and locale (unlike `localeCompare`). */
function compareOrigins(a: MaglevBackend, b: MaglevBackend): number {
  return a.origin < b.origin ? -1 : a.origin > b.origin ? 1 : 0;
}
