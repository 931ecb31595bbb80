// The rendered chart's RBAC: each ServiceAccount's ClusterRole and Roles grant exactly what
// operator/src/rbac/permissions.ts declares for it (set equality both ways, per scope), so the chart can
// neither miss a permission nor grant one nobody declared; and what the Pods behind the attestation
// Service can do, worked out from the Deployments, bindings and roles as the apiserver would, holds none
// of the controllers' powers. (test/chart/rbac-in-cluster.test.ts runs the code as these accounts.)
import test from 'ava';
import { grantKey, grantUnion, IDENTITIES, operatorPermissions, permissionsOf, type Grant, type Identity, type PermissionScope } from '../../operator/src/rbac/permissions.js';
import { ciValuesFiles, find, one, render, type K8sObject } from './helm.js';

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** The name suffix of each ServiceAccount's roles: <fullname>-operator…, <fullname>-attestation…. */
const ROLE_PREFIX: Record<Identity, string> = { controllers: '-operator', attestationService: '-attestation' };

/** Grants of one ServiceAccount's rendered roles, tagged with the scope each role stands for. */
function renderedGrants(objects: K8sObject[], identity: Identity): Grant[] {
  const grants: Grant[] = [];
  for (const role of objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role')) {
    const name = role.metadata.name;
    const base = name.replace(/-(leader-election|settlement)$/, '');
    if (!base.endsWith(ROLE_PREFIX[identity])) continue;
    let scope: PermissionScope;
    if (role.kind === 'ClusterRole') scope = 'cluster';
    else if (name.endsWith('-leader-election')) scope = 'leaseNamespace';
    else if (name.endsWith('-settlement')) scope = 'settlementNamespaces';
    else throw new Error(`unexpected Role ${name}`);
    for (const rule of (role.rules as Rule[]) ?? []) {
      for (const apiGroup of rule.apiGroups) for (const resource of rule.resources) for (const verb of rule.verbs) {
        grants.push({ scope, apiGroup, resource, verb: verb as Grant['verb'] });
      }
    }
  }
  return grants;
}

function compare(t: import('ava').ExecutionContext, objects: K8sObject[]): void {
  for (const identity of IDENTITIES) {
    const declared = new Set(grantUnion(permissionsOf(identity)).map(grantKey));
    const rendered = new Set(renderedGrants(objects, identity).map(grantKey));
    const missing = [...declared].filter((k) => !rendered.has(k)).sort();
    const extra = [...rendered].filter((k) => !declared.has(k)).sort();
    t.deepEqual(missing, [], `${identity}: declared in permissions.ts but not granted by the chart`);
    t.deepEqual(extra, [], `${identity}: granted by the chart but declared by no component`);
  }
}

/** The rules in force for a ServiceAccount: every role a binding in the rendered chart gives it. */
function effectiveRules(objects: K8sObject[], namespace: string, serviceAccount: string): Array<Rule & { where: string }> {
  const out: Array<Rule & { where: string }> = [];
  for (const binding of objects.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding')) {
    const subjects = (binding.subjects as Array<{ kind: string; name: string; namespace?: string }>) ?? [];
    if (!subjects.some((s) => s.kind === 'ServiceAccount' && s.name === serviceAccount && s.namespace === namespace)) continue;
    const ref = binding.roleRef as { kind: string; name: string };
    const role = objects.find((o) => o.kind === ref.kind && o.metadata.name === ref.name && (ref.kind === 'ClusterRole' || o.metadata.namespace === binding.metadata.namespace));
    if (!role) throw new Error(`${binding.kind} ${binding.metadata.name} refers to ${ref.kind} ${ref.name}, which the chart does not render`);
    const where = binding.kind === 'ClusterRoleBinding' ? 'cluster-wide' : `in ${binding.metadata.namespace}`;
    for (const rule of (role.rules as Rule[]) ?? []) out.push({ ...rule, where });
  }
  return out;
}

function allows(rules: Rule[], apiGroup: string, resource: string, verb: string): boolean {
  return rules.some((r) => (r.apiGroups.includes(apiGroup) || r.apiGroups.includes('*'))
    && (r.resources.includes(resource) || r.resources.includes('*'))
    && (r.verbs.includes(verb) || r.verbs.includes('*')));
}

/** The ServiceAccount of the Deployment whose Pods a Service selects. */
function serviceAccountBehind(objects: K8sObject[], service: K8sObject): string {
  const selector = (service.spec as { selector: Record<string, string> }).selector;
  const deployments = find(objects, 'Deployment', (d) => {
    const labels = (d.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
    return Object.entries(selector).every(([k, v]) => labels[k] === v);
  });
  if (deployments.length !== 1) throw new Error(`Service ${service.metadata.name} selects the Pods of ${deployments.length} Deployments`);
  return (deployments[0]!.spec as { template: { spec: { serviceAccountName: string } } }).template.spec.serviceAccountName;
}

test('the rendered roles grant each ServiceAccount exactly what permissions.ts declares for it (defaults)', async (t) => {
  compare(t, await render());
});

test('the rendered roles grant each ServiceAccount exactly what permissions.ts declares for it (production scenario)', async (t) => {
  const objects = await render({ valuesFiles: ciValuesFiles.filter((f) => f.endsWith('production-values.yaml')) });
  compare(t, objects);
  t.is(find(objects, 'Role', (o) => o.metadata.name.endsWith('-settlement')).length, 1);
});

test('each settlement namespace gets its own Role and RoleBinding with the same rules', async (t) => {
  const objects = await render({ set: ['rbac.settlement.namespaces={a,b}'] });
  const roles = find(objects, 'Role', (o) => o.metadata.name.endsWith('-settlement'));
  t.deepEqual(roles.map((r) => r.metadata.namespace).sort(), ['a', 'b']);
  t.deepEqual(find(objects, 'RoleBinding', (o) => o.metadata.name.endsWith('-settlement')).map((r) => r.metadata.namespace).sort(), ['a', 'b']);
  compare(t, objects);
});

test('the network-facing attestation service cannot create or delete Pods, write Nodes, or touch Secrets and ConfigMaps', async (t) => {
  for (const set of [[], ['rbac.settlement.namespaces={chrysalis-system,tenant}']]) {
    const objects = await render({ set });
    const service = one(objects, 'Service', (s) => s.metadata.name.endsWith('-attestation'));
    const sa = serviceAccountBehind(objects, service);
    const rules = effectiveRules(objects, 'chrysalis-system', sa);
    t.true(allows(rules, 'authentication.k8s.io', 'tokenreviews', 'create'), 'it can review attester tokens (the rules were found)');
    const forbidden: Array<[string, string, string]> = [
      ['', 'pods', 'create'], ['', 'pods', 'delete'], ['', 'pods', 'list'], ['', 'pods/binding', 'create'], ['', 'pods/eviction', 'create'],
      ['', 'nodes', 'patch'], ['', 'nodes', 'update'], ['', 'secrets', 'get'], ['', 'secrets', 'list'], ['', 'secrets', 'create'],
      ['', 'configmaps', 'get'], ['', 'configmaps', 'create'], ['', 'configmaps', 'patch'], ['', 'serviceaccounts/token', 'create'],
      ['chrysalis.dev', 'settlementaccounts/status', 'patch'], ['chrysalis.dev', 'inferencepools/status', 'patch'],
    ];
    for (const [group, resource, verb] of forbidden) {
      const granted = rules.filter((r) => allows([r], group, resource, verb)).map((r) => r.where);
      t.deepEqual(granted, [], `ServiceAccount ${sa} behind the attestation Service must not ${verb} ${group || 'core'}/${resource}`);
    }
    t.false(rules.some((r) => [...r.apiGroups, ...r.resources, ...r.verbs].includes('*')), 'no wildcard');
  }
});

test('the controllers and the attestation service run as different ServiceAccounts', async (t) => {
  const objects = await render();
  const controllers = one(objects, 'Deployment', (d) => d.metadata.name.endsWith('-operator'));
  const service = one(objects, 'Service', (s) => s.metadata.name.endsWith('-attestation'));
  const controllersSa = (controllers.spec as { template: { spec: { serviceAccountName: string } } }).template.spec.serviceAccountName;
  t.not(serviceAccountBehind(objects, service), controllersSa);
});

test('every permission says which component needs it and why', (t) => {
  for (const [identity, components] of Object.entries(operatorPermissions)) {
    for (const [component, list] of Object.entries(components)) {
      t.true(list.length > 0, `${identity}.${component}`);
      for (const p of list) {
        t.true(p.why.length > 10, `${identity}.${component}: ${p.resource}`);
        t.true(p.verbs.length > 0, `${identity}.${component}: ${p.resource}`);
        t.false(p.resource.includes('*') || p.apiGroup.includes('*'), `${identity}.${component}: ${p.resource}`);
      }
    }
  }
});

test('Secrets are declared only for settlement, in the settlement namespaces, and never listed or watched', (t) => {
  const secretGrants = Object.entries(operatorPermissions).flatMap(([identity, components]) => Object.entries(components)
    .flatMap(([c, list]) => list.filter((p) => p.apiGroup === '' && p.resource.startsWith('secrets')).map((p) => ({ where: `${identity}.${c}`, p }))));
  t.true(secretGrants.length > 0);
  for (const { where, p } of secretGrants) {
    t.is(where, 'controllers.settlement');
    t.is(p.scope, 'settlementNamespaces');
    t.false(p.verbs.some((v) => v === 'list' || v === 'watch' || v === 'update' || v === 'patch' || v === 'delete'), `${p.verbs.join(',')}`);
  }
});

test('walletSecretNames narrows Secret reads by name; the create of the sandbox key stays a rule of its own', async (t) => {
  const objects = await render({ set: ['rbac.settlement.walletSecretNames={wallet}'] });
  const role = one(objects, 'Role', (o) => o.metadata.name.endsWith('-settlement'));
  const secretRules = (role.rules as Rule[]).filter((r) => r.resources.includes('secrets'));
  t.deepEqual(secretRules.find((r) => r.verbs.includes('get')), { apiGroups: [''], resources: ['secrets'], resourceNames: ['wallet'], verbs: ['get'] });
  t.deepEqual(secretRules.find((r) => !r.verbs.includes('get')), { apiGroups: [''], resources: ['secrets'], verbs: ['create'] });
});

test('rbac.create=false renders no role or binding', async (t) => {
  const objects = await render({ set: ['rbac.create=false'] });
  t.is(objects.filter((o) => /Role(Binding)?$/.test(o.kind)).length, 0);
});
