// A set of strings kept in code-unit order, so "the first name" is always the same answer for the
// same contents no matter in which order they were added. That is what makes placement tie-breaks
// deterministic. Lookups are binary searches; insert and delete shift the array (a memmove), which
// for buckets of a few thousand names costs less than the pointer chasing of a balanced tree.

/** Plain `<` comparison: locale-independent, so results never depend on the host's settings. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class SortedNames {
  private readonly items: string[] = [];

  get size(): number {
    return this.items.length;
  }

  /** Adds `name`; returns false when it was already present. */
  add(name: string): boolean {
    const at = this.lowerBound(name);
    if (this.items[at] === name) return false;
    this.items.splice(at, 0, name);
    return true;
  }

  /** Removes `name`; returns false when it was absent. */
  delete(name: string): boolean {
    const at = this.lowerBound(name);
    if (this.items[at] !== name) return false;
    this.items.splice(at, 1);
    return true;
  }

  has(name: string): boolean {
    return this.items[this.lowerBound(name)] === name;
  }

  /** The name at `position` in order, or undefined past the end. */
  at(position: number): string | undefined {
    return this.items[position];
  }

  [Symbol.iterator](): IterableIterator<string> {
    return this.items[Symbol.iterator]();
  }

  /** Index of the first item not less than `name`. */
  private lowerBound(name: string): number {
    let low = 0;
    let high = this.items.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.items[mid] as string) < name) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
