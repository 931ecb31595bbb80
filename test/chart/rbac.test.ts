// The rendered ClusterRole and Roles grant exactly the union of operator/src/rbac/permissions.ts (set
// equality both ways, per scope), so the chart can neither miss a permission a controller uses nor grant
// one nobody declared.
import test from 'ava';
import { grantKey, grantUnion, operatorPermissions, type Grant, type PermissionScope } from '../../operator/src/rbac/permissions.js';
import { ciValuesFiles, find, render, type K8sObject } from './helm.js';

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** Grants of the operator's rendered roles, tagged with the scope each role stands for. */
function renderedGrants(objects: K8sObject[]): Grant[] {
  const grants: Grant[] = [];
  for (const role of objects.filter((o) => (o.kind === 'ClusterRole' || o.kind === 'Role') && o.metadata.name.includes('-operator'))) {
    let scope: PermissionScope;
    if (role.kind === 'ClusterRole') scope = 'cluster';
    else if (role.metadata.name.endsWith('-leader-election')) scope = 'leaseNamespace';
    else if (role.metadata.name.endsWith('-settlement')) scope = 'settlementNamespaces';
    else throw new Error(`unexpected Role ${role.metadata.name}`);
    for (const rule of (role.rules as Rule[]) ?? []) {
      for (const apiGroup of rule.apiGroups) for (const resource of rule.resources) for (const verb of rule.verbs) {
        grants.push({ scope, apiGroup, resource, verb: verb as Grant['verb'] });
      }
    }
  }
  return grants;
}

function compare(t: import('ava').ExecutionContext, objects: K8sObject[]): void {
  const declared = new Set(grantUnion().map(grantKey));
  const rendered = new Set(renderedGrants(objects).map(grantKey));
  const missing = [...declared].filter((k) => !rendered.has(k)).sort();
  const extra = [...rendered].filter((k) => !declared.has(k)).sort();
  t.deepEqual(missing, [], 'declared in permissions.ts but not granted by the chart');
  t.deepEqual(extra, [], 'granted by the chart but declared by no component');
}

test('the rendered ClusterRole and Roles grant exactly what permissions.ts declares (defaults)', async (t) => {
  compare(t, await render());
});

test('the rendered ClusterRole and Roles grant exactly what permissions.ts declares (production scenario)', async (t) => {
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

test('every permission says which component needs it and why', (t) => {
  for (const [component, list] of Object.entries(operatorPermissions)) {
    t.true(list.length > 0, component);
    for (const p of list) {
      t.true(p.why.length > 10, `${component}: ${p.resource}`);
      t.true(p.verbs.length > 0, `${component}: ${p.resource}`);
      t.false(p.resource.includes('*') || p.apiGroup.includes('*'), `${component}: ${p.resource}`);
    }
  }
});

test('Secret access is declared only by settlement, namespaced and get-only', (t) => {
  const secretGrants = Object.entries(operatorPermissions).flatMap(([c, list]) => list.filter((p) => p.apiGroup === '' && p.resource.startsWith('secrets')).map((p) => ({ c, p })));
  t.deepEqual(secretGrants.map(({ c }) => c), ['settlement']);
  t.is(secretGrants[0]!.p.scope, 'settlementNamespaces');
  t.deepEqual(secretGrants[0]!.p.verbs, ['get']);
});

test('rbac.create=false renders no role or binding', async (t) => {
  const objects = await render({ set: ['rbac.create=false'] });
  t.is(objects.filter((o) => /Role(Binding)?$/.test(o.kind)).length, 0);
});
