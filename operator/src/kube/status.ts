// "Write status only when it changed." The comparison is a deep equality that ignores key order,
// treats an absent field and `undefined` alike, and ignores `lastTransitionTime` inside `conditions`
// lists: a reconciler that rebuilt a condition with a fresh timestamp but the same type, status, reason
// and message has not changed anything a reader cares about, and writing it would wake every watcher.

/** Deep equality of JSON-like values; `ignore(path)` drops a key at a path from both sides. */
export function jsonEqual(a: unknown, b: unknown, ignore: (path: readonly string[]) => boolean = () => false, path: string[] = []): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return false;
    return a.every((x, i) => jsonEqual(x, b[i], ignore, [...path, '[]']));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const keys = new Set([...Object.keys(ao), ...Object.keys(bo)]);
  for (const key of keys) {
    const p = [...path, key];
    if (ignore(p)) continue;
    if (!jsonEqual(ao[key], bo[key], ignore, p)) return false;
  }
  return true;
}

const isConditionTransitionTime = (path: readonly string[]) =>
  path.length >= 3 && path[path.length - 1] === 'lastTransitionTime' && path[path.length - 2] === '[]' && path[path.length - 3] === 'conditions';

/** True when the two statuses differ only in conditions' lastTransitionTime (or not at all). */
export function statusEqual(current: unknown, desired: unknown): boolean {
  return jsonEqual(current ?? {}, desired ?? {}, isConditionTransitionTime);
}

/**
 * True when every field of `desired` is present in `actual` with the same value (objects compared
 * recursively, arrays by length and element-wise). Fields the server added (defaults, metadata) are
 * ignored. Used to skip a server-side apply whose intent is already in effect, so an idempotent
 * reconcile sends no request at all.
 */
export function isSubset(desired: unknown, actual: unknown): boolean {
  if (desired === undefined) return true;
  if (desired === null || typeof desired !== 'object') return desired === actual;
  if (actual === null || typeof actual !== 'object') return false;
  if (Array.isArray(desired)) {
    return Array.isArray(actual) && desired.length === actual.length && desired.every((d, i) => isSubset(d, actual[i]));
  }
  if (Array.isArray(actual)) return false;
  const a = actual as Record<string, unknown>;
  return Object.entries(desired as Record<string, unknown>).every(([k, v]) => isSubset(v, a[k]));
}
