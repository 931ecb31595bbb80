// One copy of a string however many cached objects hold it. JSON.parse gives every string value of every
// object a copy of its own (V8 shares only very short ones), so every cached Pod held its own copy of its
// namespace, of each condition's type and of the timestamps it shares with every Pod written in the same
// second, and every Node its own copy of the condition messages all Nodes carry. A property key is V8's internalized
// copy of its string: making a string a key and reading the key back yields the one copy V8's string table
// keeps. That table holds its strings weakly, so a value no cached object refers to any more is collected
// as before; nothing here keeps strings alive.

/** The shared copy of `s` (equal to it). */
export function shared(s: string): string {
  for (const key in { [s]: 0 }) return key;
  return s;
}

/**
 * Replaces, in place, every string in `value` (nested objects and arrays included) by its shared copy,
 * and returns `value`. For the parts of a cached object that many objects repeat (labels, conditions,
 * owner references, a spec shared by a fleet); unique values (uids, resourceVersions) gain nothing.
 */
export function shareStrings<T>(value: T): T {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (typeof v === 'string') value[i] = shared(v);
      else if (v !== null && typeof v === 'object') shareStrings(v);
    }
  } else if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    for (const k in obj) {
      const v = obj[k];
      if (typeof v === 'string') obj[k] = shared(v);
      else if (v !== null && typeof v === 'object') shareStrings(v);
    }
  }
  return value;
}
