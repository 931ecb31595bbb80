// The operator's Kubernetes API permissions: the single source of truth for the Helm chart's RBAC.
// `scripts/generate-chart.ts` turns these lists into the chart's ClusterRoles and Roles, one set per
// ServiceAccount; test/chart/rbac.test.ts checks that the rendered chart grants exactly this (no more, no
// less), and test/chart/rbac-in-cluster.test.ts runs the operator as those ServiceAccounts against a real
// apiserver, so a call that needs a permission not declared here fails a test.
// Code that starts calling a new API adds an entry here, with the reason, and regenerates.

/** Where a permission is granted. */
export type PermissionScope =
  /** ClusterRole + ClusterRoleBinding: the kinds live in every namespace or are cluster-scoped. */
  | 'cluster'
  /** Role in the leader-election lease namespace (the release namespace unless configured). */
  | 'leaseNamespace'
  /**
   * Role in each namespace that holds SettlementAccounts (values `rbac.settlement.namespaces`, the
   * release namespace by default). RBAC cannot select Secrets by label, so the Secret grant here is
   * namespaced (never cluster-wide) and the settlement code accepts as a wallet only a Secret labelled
   * for Chrysalis; `rbac.settlement.walletSecretNames` narrows reads further to named Secrets.
   */
  | 'settlementNamespaces';

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

export interface Permission {
  /** API group; '' is the core group. */
  apiGroup: string;
  /** Resource plural, with `/subresource` where it applies. */
  resource: string;
  verbs: readonly Verb[];
  scope: PermissionScope;
  /** Why the component needs it: shown as a comment in the generated chart template. */
  why: string;
}

/**
 * The processes the chart runs, each as its own ServiceAccount holding only its own components' permissions:
 *   controllers          the ProviderNode, InferencePool and settlement reconcilers; it listens on nothing
 *                        but /metrics and the health probes.
 *   attestationService   the HTTPS endpoint every attester and replica sidecar talks to: the network-facing
 *                        process. A flaw in its request handling must not hand out the controllers' powers,
 *                        so it cannot create or delete Pods, touch Nodes, or read any Secret.
 * `chrysalis-operator --components` selects which of them one process runs (both, for the demo).
 */
export type Identity = 'controllers' | 'attestationService';
export const IDENTITIES: readonly Identity[] = ['controllers', 'attestationService'];

const GROUP = 'chrysalis.dev';

/** Permissions per ServiceAccount, then per component of that process. */
export const operatorPermissions: Readonly<Record<Identity, Readonly<Record<string, readonly Permission[]>>>> = {
  controllers: {
    providernode: [
      { apiGroup: GROUP, resource: 'providernodes', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'watch ProviderNodes (the node admission loop)' },
      { apiGroup: GROUP, resource: 'providernodes/status', verbs: ['patch'], scope: 'cluster', why: 'issue challenges, write the Attested/Quarantined/Schedulable conditions (server-side apply of the status subresource)' },
      { apiGroup: '', resource: 'nodes', verbs: ['get', 'list', 'watch', 'patch'], scope: 'cluster', why: 'set the attested/TEE/GPU labels, add or remove the unattested taint, cordon on quarantine' },
      { apiGroup: '', resource: 'pods', verbs: ['list', 'watch', 'delete'], scope: 'cluster', why: 'find the replicas on a quarantined node and delete them (uid precondition)' },
      { apiGroup: GROUP, resource: 'attestationpolicies', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'the policy a ProviderNode is verified against (re-attestation interval, quarantine grace)' },
    ],
    attestationpolicy: [
      { apiGroup: GROUP, resource: 'attestationpolicies', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'watch AttestationPolicies to report on each one' },
      { apiGroup: GROUP, resource: 'attestationpolicies/status', verbs: ['patch'], scope: 'cluster', why: 'AllowsAnyImage and the ProviderNodes using the policy (server-side apply of the status subresource)' },
      { apiGroup: GROUP, resource: 'attestationpolicies', verbs: ['create'], scope: 'cluster', why: 'the default policy (config defaultPolicySpec, the chart\'s defaultPolicy.*), created whenever none of its name exists; never updated or deleted' },
    ],
    inferencepool: [
      { apiGroup: GROUP, resource: 'inferencepools', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'watch InferencePools' },
      { apiGroup: GROUP, resource: 'inferencepools/status', verbs: ['patch'], scope: 'cluster', why: 'replica counts, placements and conditions (server-side apply of the status subresource)' },
      { apiGroup: GROUP, resource: 'inferencepools/finalizers', verbs: ['update'], scope: 'cluster', why: 'owner references with blockOwnerDeletion on replica Pods (OwnerReferencesPermissionEnforcement)' },
      { apiGroup: GROUP, resource: 'providernodes', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'placement reads attested capacity, TEE and price of every provider' },
      { apiGroup: '', resource: 'nodes', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'placement reads node allocatable GPUs' },
      { apiGroup: '', resource: 'pods', verbs: ['get', 'list', 'watch', 'create', 'delete'], scope: 'cluster', why: 'create the replica Pods a pool owns, already bound to their node; scale down and re-place' },
      { apiGroup: '', resource: 'pods/binding', verbs: ['create'], scope: 'cluster', why: 'bind a replica Pod found unbound to the chosen node (the operator is its scheduler)' },
      { apiGroup: '', resource: 'pods/status', verbs: ['patch'], scope: 'cluster', why: 'turn the chrysalis.dev/attested readiness gate False when a replica\'s attestation lapses' },
      { apiGroup: '', resource: 'pods', verbs: ['patch'], scope: 'cluster', why: 'set the routing label chrysalis.dev/attested=true on a replica while its attestation is verified and fresh, and remove it before the gate turns False' },
      { apiGroup: '', resource: 'services', verbs: ['list', 'watch', 'create', 'patch'], scope: 'cluster', why: 'each pool\'s Service, selecting only attested replicas (server-side apply: create the first time, patch after; watched to repair edits)' },
      { apiGroup: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', verbs: ['list', 'watch'], scope: 'cluster', why: 'notice the Gateway API Inference Extension CRD (inferencepools.inference.networking.k8s.io) being installed or removed (watched by name)' },
      { apiGroup: 'inference.networking.k8s.io', resource: 'inferencepools', verbs: ['get', 'create', 'patch'], scope: 'cluster', why: 'the Gateway API InferencePool kept beside each pool while that CRD is installed (read before the first apply, so one someone else made is never taken over)' },
    ],
    settlement: [
      { apiGroup: GROUP, resource: 'settlementaccounts', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'watch SettlementAccounts' },
      { apiGroup: GROUP, resource: 'settlementaccounts/status', verbs: ['patch'], scope: 'cluster', why: 'pending commit, confirmed seqno/epoch, balances and conditions (server-side apply of the status subresource)' },
      { apiGroup: GROUP, resource: 'providernodes', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'metered usage and payout addresses per provider' },
      { apiGroup: '', resource: 'secrets', verbs: ['get'], scope: 'settlementNamespaces', why: 'read the wallet Secret a SettlementAccount references, and the sandbox signing key (get only: never list or watch Secrets)' },
      { apiGroup: '', resource: 'secrets', verbs: ['create'], scope: 'settlementNamespaces', why: 'create the signing key Secret of a SettlementAccount on network: sandbox, once' },
      { apiGroup: '', resource: 'configmaps', verbs: ['get', 'create', 'patch'], scope: 'settlementNamespaces', why: 'store and read each epoch\'s entitlement leaves, the payees\' evidence for their Merkle proofs (server-side apply: create the first time, patch after)' },
    ],
    core: [
      { apiGroup: 'coordination.k8s.io', resource: 'leases', verbs: ['get', 'create', 'update'], scope: 'leaseNamespace', why: 'leader election between the controller replicas (Lease chrysalis-operator)' },
      { apiGroup: 'events.k8s.io', resource: 'events', verbs: ['create'], scope: 'cluster', why: 'events on the objects the controllers act on' },
    ],
  },
  attestationService: {
    attestation: [
      { apiGroup: 'authentication.k8s.io', resource: 'tokenreviews', verbs: ['create'], scope: 'cluster', why: 'authenticate attesters by their projected ServiceAccount token (audience chrysalis-attestation)' },
      { apiGroup: GROUP, resource: 'providernodes', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'the challenge a node attester answers, and the ProviderNode of a replica\'s node: from a cache indexed by spec.nodeName (an informer: list and watch), read again by name before a refusal and after a refused write' },
      { apiGroup: GROUP, resource: 'providernodes/status', verbs: ['patch'], scope: 'cluster', why: 'record node verdicts, replica challenges and replica keys (resourceVersion precondition)' },
      { apiGroup: GROUP, resource: 'attestationpolicies', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'the policy evidence is verified against, from a cache (an informer), read by name when it is not cached' },
      { apiGroup: '', resource: 'pods', verbs: ['get'], scope: 'cluster', why: 'the replica Pod a request speaks for, by name: never list or watch, so the network-facing service cannot enumerate the cluster\'s Pods (it writes no Pod metadata: challenges and keys live on the host\'s ProviderNode status)' },
      { apiGroup: GROUP, resource: 'inferencepools', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'a replica is a Pod its InferencePool controls: the pool\'s uid against the Pod\'s owner reference (from a cache, read by name when the cached pool has another uid)' },
      { apiGroup: '', resource: 'pods/status', verbs: ['patch'], scope: 'cluster', why: 'set the chrysalis.dev/attested readiness-gate condition of an attested replica' },
    ],
    metering: [
      { apiGroup: '', resource: 'pods', verbs: ['get'], scope: 'cluster', why: 'the replica Pod a usage report is from' },
      { apiGroup: GROUP, resource: 'inferencepools', verbs: ['get'], scope: 'cluster', why: 'the SettlementAccount a replica\'s pool bills to' },
      { apiGroup: GROUP, resource: 'providernodes', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'the ProviderNode of the replica\'s node, from a cache indexed by spec.nodeName (an informer: list and watch)' },
      { apiGroup: GROUP, resource: 'settlementaccounts', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'the token price multipliers of the SettlementAccount a replica\'s pool bills to (pricing each folded delta), from a cache (an informer), read by name when it is not cached' },
      { apiGroup: GROUP, resource: 'providernodes/status', verbs: ['patch'], scope: 'cluster', why: 'fold usage into the provider\'s counters (merge patch of usage and usageCursors conditioned on resourceVersion)' },
      { apiGroup: 'events.k8s.io', resource: 'events', verbs: ['create'], scope: 'cluster', why: 'Warning events on replica Pods whose usage reports are refused' },
    ],
  },
};

/**
 * The attester (node DaemonSet and replica sidecars) needs no Kubernetes API permission: it talks only to
 * the attestation service, authenticated by a projected token the service checks with a TokenReview.
 */
export const attesterPermissions: readonly Permission[] = [];

/** Every permission of one ServiceAccount. */
export function permissionsOf(identity: Identity): Permission[] {
  return Object.values(operatorPermissions[identity]).flat();
}

/** One (scope, group, resource, verb) grant. */
export interface Grant {
  scope: PermissionScope;
  apiGroup: string;
  resource: string;
  verb: Verb;
}

export function grantKey(g: Grant): string {
  return `${g.scope}|${g.apiGroup}|${g.resource}|${g.verb}`;
}

/** The union of the given permissions as individual grants, sorted, without duplicates. */
export function grantUnion(permissions: readonly Permission[]): Grant[] {
  const byKey = new Map<string, Grant>();
  for (const p of permissions) {
    for (const verb of p.verbs) {
      const g: Grant = { scope: p.scope, apiGroup: p.apiGroup, resource: p.resource, verb };
      byKey.set(grantKey(g), g);
    }
  }
  return [...byKey.keys()].sort().map((k) => byKey.get(k)!);
}

export interface MergedRule {
  apiGroup: string;
  resource: string;
  verbs: Verb[];
  why: string[];
}

const VERB_ORDER: readonly Verb[] = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'];

/**
 * The union for one scope, one rule per (group, resource), verbs in a stable order, reasons kept. Secret
 * reads are kept apart from any other Secret verb, so `walletSecretNames` can narrow the reads
 * (resourceNames cannot constrain create).
 */
export function mergedRules(scope: PermissionScope, permissions: readonly Permission[]): MergedRule[] {
  const byKey = new Map<string, MergedRule>();
  for (const p of permissions) {
    if (p.scope !== scope) continue;
    for (const verb of p.verbs) {
      const secretWrite = p.apiGroup === '' && p.resource === 'secrets' && verb !== 'get';
      const key = `${p.apiGroup}|${p.resource}|${secretWrite ? 'write' : ''}`;
      const rule = byKey.get(key) ?? { apiGroup: p.apiGroup, resource: p.resource, verbs: [], why: [] };
      if (!rule.verbs.includes(verb)) rule.verbs.push(verb);
      if (!rule.why.includes(p.why)) rule.why.push(p.why);
      byKey.set(key, rule);
    }
  }
  const rules = [...byKey.values()];
  for (const r of rules) r.verbs.sort((a, b) => VERB_ORDER.indexOf(a) - VERB_ORDER.indexOf(b));
  // By group, then resource (a resource before its subresources), then the read rule before the write rule.
  const order = (r: MergedRule) => [r.apiGroup, r.resource, r.verbs.includes('get') ? '0' : '1'].join('\u0000');
  return rules.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
}
