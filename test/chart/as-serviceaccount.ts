// Running operator code as one of the chart's ServiceAccounts on a real apiserver: the chart's rendered
// ServiceAccounts, ClusterRoles, Roles and bindings are created on the cluster, and a kubeconfig whose
// user impersonates `system:serviceaccount:<namespace>:<name>` makes every request carry exactly that
// account's permissions (the apiserver adds the account's groups, as for a real token). Requests the
// apiserver refuses are recorded, so a test can name the missing verb instead of timing out.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { KubeApiError, isConflict, type RestClient } from '../../operator/src/kube/rest.js';
import type { Manager } from '../../operator/src/kube/manager.js';
import type { K8sObject } from './helm.js';

const RBAC_GROUP = '/apis/rbac.authorization.k8s.io/v1';

/** The collection path of an object of the kinds the chart's RBAC consists of. */
function collectionPath(o: K8sObject): string {
  const ns = o.metadata.namespace;
  switch (o.kind) {
    case 'ServiceAccount': return `/api/v1/namespaces/${ns}/serviceaccounts`;
    case 'ClusterRole': return `${RBAC_GROUP}/clusterroles`;
    case 'ClusterRoleBinding': return `${RBAC_GROUP}/clusterrolebindings`;
    case 'Role': return `${RBAC_GROUP}/namespaces/${ns}/roles`;
    case 'RoleBinding': return `${RBAC_GROUP}/namespaces/${ns}/rolebindings`;
    default: throw new Error(`not an RBAC object: ${o.kind}`);
  }
}

export const RBAC_KINDS = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);

/** Creates the rendered chart's ServiceAccounts and RBAC objects (and their namespaces) with an admin client. */
export async function applyChartRbac(admin: RestClient, objects: K8sObject[]): Promise<K8sObject[]> {
  const rbac = objects.filter((o) => RBAC_KINDS.has(o.kind));
  for (const ns of new Set(rbac.map((o) => o.metadata.namespace).filter((n): n is string => !!n))) {
    await admin.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } }).catch((e) => { if (!isConflict(e)) throw e; });
  }
  // Roles before their bindings, ServiceAccounts first (the order the kinds are listed in).
  const order = ['ServiceAccount', 'ClusterRole', 'Role', 'ClusterRoleBinding', 'RoleBinding'];
  for (const o of [...rbac].sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind))) {
    await admin.request('POST', collectionPath(o), { body: o });
  }
  return rbac;
}

/** `system:serviceaccount:<namespace>:<name>` */
export function serviceAccountUser(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

/** A copy of an admin kubeconfig whose every request impersonates `user`; returns its path. */
export function impersonatingKubeconfig(adminPath: string, dir: string, user: string): string {
  const config = parse(readFileSync(adminPath, 'utf8')) as { users: Array<{ name: string; user: Record<string, unknown> }> };
  for (const u of config.users) u.user.as = user;
  const path = join(dir, `${user.replace(/[^a-z0-9-]/gi, '_')}.kubeconfig`);
  writeFileSync(path, stringify(config), { mode: 0o600 });
  return path;
}

/** Every request of this manager's client that the apiserver refused with 403 ("VERB path: 403 Forbidden: …"). */
export function recordForbidden(manager: Manager): string[] {
  const forbidden: string[] = [];
  const rest = manager.rest;
  const request = rest.request.bind(rest);
  rest.request = (async (method: string, path: string, options?: unknown) => {
    try {
      return await request(method, path, options as never);
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 403) forbidden.push(err.message);
      throw err;
    }
  }) as RestClient['request'];
  return forbidden;
}

/** Refused watches do not go through request(); the request counter has them by code. */
export async function forbiddenRequestCount(manager: Manager): Promise<number> {
  const metric = await manager.metrics.apiRequests.get();
  return metric.values.filter((v) => v.labels.code === '403').reduce((s, v) => s + v.value, 0);
}
