// A first-in, first-out line of distinct keys where every step is O(1): join at the end, leave from the
// front, or leave from anywhere (a key made urgent leaves the ordinary line).
//
// Why not a plain array: Array.shift and indexOf/splice are O(n) in the keys waiting, and a fleet's cold
// start queues a key per node; with 100,000 keys queued, shift was most of the work queue's time. Here a
// key that leaves from the middle stays in the array as a stale entry (its ticket no longer matches), the
// front skips stale entries, and the array is compacted once the entries gone or stale outnumber the keys
// in the line (and 1,024), so it holds at most about twice the keys waiting.
export class KeyLine {
  /** Entries in the order they joined; those before `head` are gone. */
  private entries: Array<{ key: string; ticket: number }> = [];
  private head = 0;
  /** The ticket of each key in the line: an entry whose ticket differs is stale. */
  private readonly tickets = new Map<string, number>();
  private nextTicket = 0;

  get size(): number { return this.tickets.size; }

  has(key: string): boolean { return this.tickets.has(key); }

  /** Adds `key` at the end; a key already in the line keeps its place. */
  push(key: string): void {
    if (this.tickets.has(key)) return;
    const ticket = this.nextTicket++;
    this.tickets.set(key, ticket);
    this.entries.push({ key, ticket });
    this.compact();
  }

  /** Takes the key at the front, or undefined when the line is empty. */
  shift(): string | undefined {
    while (this.head < this.entries.length) {
      const { key, ticket } = this.entries[this.head++]!;
      if (this.tickets.get(key) !== ticket) continue;
      this.tickets.delete(key);
      this.compact();
      return key;
    }
    this.clear();
    return undefined;
  }

  /** Takes `key` out wherever it is; true if it was in the line. */
  delete(key: string): boolean {
    return this.tickets.delete(key);
  }

  clear(): void {
    this.entries = [];
    this.head = 0;
    this.tickets.clear();
  }

  private compact(): void {
    const dead = this.entries.length - this.tickets.size;
    if (dead < 1024 || dead < this.tickets.size) return;
    this.entries = this.entries.slice(this.head).filter((e) => this.tickets.get(e.key) === e.ticket);
    this.head = 0;
  }
}
