// How many GPUs a Pod holds on its node: the one count placement, the FleetView and the ProviderNode
// controller share.

interface ContainerLike {
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

/** GPUs a Pod holds: the sum over its containers, or its largest init container if that is more. */
export function podGpus(pod: object, resourceName: string): number {
  const spec = (pod as { spec?: unknown }).spec as { containers?: ContainerLike[]; initContainers?: ContainerLike[] } | undefined;
  const of = (c: ContainerLike) => {
    // Extended resources: requests default to limits and must equal them when both are set.
    const v = c.resources?.requests?.[resourceName] ?? c.resources?.limits?.[resourceName];
    const n = v === undefined ? 0 : Number(v);
    return Number.isInteger(n) && n > 0 ? n : 0;
  };
  let sum = 0;
  for (const c of spec?.containers ?? []) sum += of(c);
  let init = 0;
  for (const c of spec?.initContainers ?? []) init = Math.max(init, of(c));
  return Math.max(sum, init);
}
