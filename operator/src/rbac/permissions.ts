// The operator's Kubernetes API permissions: the single source of truth for the Helm chart's RBAC.
// `scripts/generate-chart.ts` turns this list into the chart's ClusterRole and Role rules, and
// test/chart/rbac.test.ts checks that the rendered chart grants exactly this set (no more, no less).
// A controller that starts calling a new API adds an entry here, with the reason, and regenerates.

/** Where a permission is granted. */
export type PermissionScope =
  /** ClusterRole + ClusterRoleBinding: the watched kinds live in every namespace or are cluster-scoped. */
  | 'cluster'
  /** Role in the leader-election lease namespace (the release namespace unless configured). */
  | 'leaseNamespace'
  /**
   * Role in each namespace that holds SettlementAccounts (values `rbac.settlement.namespaces`, the
   * release namespace by default), optionally narrowed to the wallet Secrets' names
   * (`rbac.settlement.walletSecretNames`).
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

export type Component = 'providernode' | 'inferencepool' | 'settlement' | 'attestation' | 'core';

const GROUP = 'chrysalis.dev';

/** Permissions per operator component. The chart grants the union. */
export const operatorPermissions: Readonly<Record<Component, readonly Permission[]>> = {
  providernode: [
    { apiGroup: GROUP, resource: 'providernodes', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'watch ProviderNodes (the node admission loop)' },
    { apiGroup: GROUP, resource: 'providernodes/status', verbs: ['patch', 'update'], scope: 'cluster', why: 'write challenge, attestation result and conditions through the status subresource' },
    { apiGroup: '', resource: 'nodes', verbs: ['get', 'list', 'watch', 'patch'], scope: 'cluster', why: 'set the attested/TEE/GPU labels, add or remove the unattested taint, cordon on quarantine' },
    { apiGroup: '', resource: 'pods', verbs: ['list', 'watch', 'delete'], scope: 'cluster', why: 'find the replicas on a quarantined node and delete those eviction cannot move' },
    { apiGroup: '', resource: 'pods/eviction', verbs: ['create'], scope: 'cluster', why: 'evict replicas from a quarantined node (honours PodDisruptionBudgets)' },
    { apiGroup: GROUP, resource: 'attestationpolicies', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'the policy a ProviderNode is verified against' },
  ],
  inferencepool: [
    { apiGroup: GROUP, resource: 'inferencepools', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'watch InferencePools' },
    { apiGroup: GROUP, resource: 'inferencepools/status', verbs: ['patch', 'update'], scope: 'cluster', why: 'replica counts, placements and conditions through the status subresource' },
    { apiGroup: GROUP, resource: 'inferencepools/finalizers', verbs: ['update'], scope: 'cluster', why: 'owner references with blockOwnerDeletion on replica Pods (OwnerReferencesPermissionEnforcement)' },
    { apiGroup: GROUP, resource: 'providernodes', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'placement reads attested capacity, TEE and price of every provider' },
    { apiGroup: '', resource: 'nodes', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'placement reads node allocatable GPUs' },
    { apiGroup: '', resource: 'pods', verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'], scope: 'cluster', why: 'create, scale and remove the replica Pods a pool owns' },
    { apiGroup: '', resource: 'pods/binding', verbs: ['create'], scope: 'cluster', why: 'bind replica Pods to the chosen node (the operator is their scheduler)' },
    { apiGroup: '', resource: 'pods/status', verbs: ['patch'], scope: 'cluster', why: 'set the chrysalis.dev/attested readiness-gate condition' },
  ],
  settlement: [
    { apiGroup: GROUP, resource: 'settlementaccounts', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'watch SettlementAccounts' },
    { apiGroup: GROUP, resource: 'settlementaccounts/status', verbs: ['patch', 'update'], scope: 'cluster', why: 'pending commit, confirmed seqno/epoch, balances and conditions' },
    { apiGroup: GROUP, resource: 'providernodes', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'metered usage and payout addresses per provider' },
    { apiGroup: '', resource: 'secrets', verbs: ['get'], scope: 'settlementNamespaces', why: 'read the wallet Secret a SettlementAccount references (get only: never list or watch Secrets)' },
  ],
  attestation: [
    { apiGroup: 'authentication.k8s.io', resource: 'tokenreviews', verbs: ['create'], scope: 'cluster', why: 'authenticate attesters by their projected ServiceAccount token (audience chrysalis-attestation)' },
    { apiGroup: GROUP, resource: 'providernodes', verbs: ['get'], scope: 'cluster', why: 'look up the challenge a node attester answers' },
    { apiGroup: GROUP, resource: 'providernodes/status', verbs: ['patch'], scope: 'cluster', why: 'record the verdict of submitted evidence' },
    { apiGroup: GROUP, resource: 'attestationpolicies', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'the policy evidence is verified against' },
    { apiGroup: GROUP, resource: 'inferencepools/status', verbs: ['patch'], scope: 'cluster', why: 'record replica attestation and folded usage' },
    { apiGroup: '', resource: 'pods', verbs: ['get'], scope: 'cluster', why: 'resolve the replica Pod behind a replica attester token' },
  ],
  core: [
    { apiGroup: 'coordination.k8s.io', resource: 'leases', verbs: ['get', 'create', 'update'], scope: 'leaseNamespace', why: 'leader election between the operator replicas' },
    { apiGroup: '', resource: 'events', verbs: ['create', 'patch'], scope: 'cluster', why: 'events on the objects the controllers act on (core/v1 recorder)' },
    { apiGroup: 'events.k8s.io', resource: 'events', verbs: ['create', 'patch'], scope: 'cluster', why: 'events on the objects the controllers act on (events.k8s.io/v1 recorder)' },
  ],
};

/**
 * The attester (node DaemonSet and replica sidecars) needs no Kubernetes API permission: it talks only to
 * the attestation service, authenticated by a projected token the service checks with a TokenReview.
 */
export const attesterPermissions: readonly Permission[] = [];

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

/** The union of every component's permissions as individual grants, sorted, without duplicates. */
export function grantUnion(permissions: readonly Permission[] = Object.values(operatorPermissions).flat()): Grant[] {
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

/** The union for one scope, one rule per (group, resource), verbs in a stable order, reasons kept. */
export function mergedRules(scope: PermissionScope, permissions: readonly Permission[] = Object.values(operatorPermissions).flat()): MergedRule[] {
  const byKey = new Map<string, MergedRule>();
  for (const p of permissions) {
    if (p.scope !== scope) continue;
    const key = `${p.apiGroup}|${p.resource}`;
    const rule = byKey.get(key) ?? { apiGroup: p.apiGroup, resource: p.resource, verbs: [], why: [] };
    for (const v of p.verbs) if (!rule.verbs.includes(v)) rule.verbs.push(v);
    if (!rule.why.includes(p.why)) rule.why.push(p.why);
    byKey.set(key, rule);
  }
  const rules = [...byKey.values()];
  for (const r of rules) r.verbs.sort((a, b) => VERB_ORDER.indexOf(a) - VERB_ORDER.indexOf(b));
  return rules.sort((a, b) => (a.apiGroup === b.apiGroup ? a.resource.localeCompare(b.resource) : a.apiGroup.localeCompare(b.apiGroup)));
}
