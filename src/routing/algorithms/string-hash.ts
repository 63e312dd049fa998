/**
 * @module The 32-bit hash of a consistent-hash key: FNV-1a over the key's UTF-16 code
 * units, finished with murmur3's fmix32. FNV-1a alone is fast but mixes its last
 * characters poorly into the low bits, and keys such as client addresses differ only
 * there (`10.0.0.7`, `10.0.0.8`); fmix32 makes every input bit flip each output bit
 * with probability close to 1/2. Deterministic and free of per-process seeds, so two
 * switchyard processes hash every key alike.
 */

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

export function hashString(key: string): number {
  let hash = FNV_OFFSET;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), FNV_PRIME);
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
