// The collateral caches keep one slot per item they were asked about, up to a bound. Lookups come before
// any signature can be checked, so ids an attester makes up must not push out items in use: when the map
// is over its bound, slots that never got their item go first, oldest first, then the oldest of the rest.
/** Deletes slots of `slots` (insertion order = age) until at most `max` remain, never `keep`. */
export function evictBeyond<K, S extends { der?: unknown }>(slots: Map<K, S>, max: number, keep: S): void {
  for (const pass of [(x: S) => !x.der, () => true]) {
    for (const [k, x] of slots) {
      if (slots.size <= max) return;
      if (x !== keep && pass(x)) slots.delete(k);
    }
  }
}
