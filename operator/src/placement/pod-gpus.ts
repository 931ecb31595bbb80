// How many GPUs a Pod holds on its node: the one count placement, the FleetView and the ProviderNode
// controller share. It is Kubernetes' effective request, as kube-scheduler and the kubelet count it, so
// the operator never sees a node freer (or fuller) than they do:
//   - each container's request, defaulted to its limit when unset (the apiserver does the same);
//   - app containers run together: their requests add up;
//   - init containers run one at a time before them: the Pod needs the largest;
//   - sidecars (init containers with restartPolicy Always) start in order and keep running beside the
//     later init containers and the app: each adds to everything that starts after it.
// The effective request is the larger of the running total (app + sidecars) and the peak any init
// container reaches with the sidecars started before it.

interface ContainerLike {
  restartPolicy?: string;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

/** GPUs a Pod holds: its effective request of `resourceName`. */
export function podGpus(pod: object, resourceName: string): number {
  const spec = (pod as { spec?: unknown }).spec as { containers?: ContainerLike[]; initContainers?: ContainerLike[] } | undefined;
  const request = (c: ContainerLike) => {
    const v = c.resources?.requests?.[resourceName] ?? c.resources?.limits?.[resourceName];
    const n = v === undefined ? 0 : Number(v);
    // Extended resources are whole numbers; anything else would be refused by the apiserver.
    return Number.isInteger(n) && n > 0 ? n : 0;
  };
  let running = 0;
  for (const c of spec?.containers ?? []) running += request(c);
  let sidecars = 0;
  let initPeak = 0;
  for (const c of spec?.initContainers ?? []) {
    if (c.restartPolicy === 'Always') {
      sidecars += request(c);
      running += request(c);
      initPeak = Math.max(initPeak, sidecars);
    } else {
      initPeak = Math.max(initPeak, request(c) + sidecars);
    }
  }
  return Math.max(running, initPeak);
}
