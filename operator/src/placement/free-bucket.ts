// The nodes of one capacity group that have exactly the same number of free GPUs, grouped by provider.
//
// Grouping by provider is what keeps spreading cheap: to find "a node of a provider this pool does not
// use yet" we walk providers in name order and skip the few the pool already uses (at most one skip per
// replica of the pool), instead of skipping every node those providers own.
import { SortedNames } from './sorted-names.js';

export class FreeBucket {
  /** Providers with at least one node in this bucket, in name order. */
  readonly providers = new SortedNames();
  private readonly nodesByProvider = new Map<string, SortedNames>();
  private nodeCount = 0;

  get size(): number {
    return this.nodeCount;
  }

  add(provider: string, node: string): void {
    let nodes = this.nodesByProvider.get(provider);
    if (nodes === undefined) {
      nodes = new SortedNames();
      this.nodesByProvider.set(provider, nodes);
      this.providers.add(provider);
    }
    if (nodes.add(node)) this.nodeCount += 1;
  }

  delete(provider: string, node: string): void {
    const nodes = this.nodesByProvider.get(provider);
    if (nodes === undefined || !nodes.delete(node)) return;
    this.nodeCount -= 1;
    if (nodes.size === 0) {
      this.nodesByProvider.delete(provider);
      this.providers.delete(provider);
    }
  }

  /** The provider's nodes in this bucket, in name order (undefined when it has none here). */
  nodesOf(provider: string): SortedNames | undefined {
    return this.nodesByProvider.get(provider);
  }
}
