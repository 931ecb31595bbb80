// The ProviderNode CRD as crds/ declares it, served under another API group, or with the status lists
// it declares atomic keyed again (x-kubernetes-list-type: map) as they were declared before: for the
// status-writes bench's baseline and for the test of an upgrade from the keyed lists. Another group, so a
// variant never replaces the CRD the rest of a test run uses.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CRD_DIR } from '../../dev/install-crds.js';

/** The lists the CRD declares atomic, with the keys they had as keyed lists (the baseline's shape). */
const KEYED_BEFORE: Record<string, string[]> = {
  'status.attestation.gpus': ['index'],
  'status.attestedReplicas': ['namespace', 'pod'],
  'status.replicaChallenges': ['namespace', 'pod'],
  'status.usage': ['account'],
  'status.usage[].payees': ['payee'],
  'status.usageCursors': ['pod'],
};

type Schema = { properties?: Record<string, Schema>; items?: Schema; [k: string]: unknown };

/** The schema node at a dotted path (`[]` steps into a list's items). */
function schemaAt(root: Schema, path: string): Schema {
  let node = root;
  for (const step of path.split('.')) {
    const list = step.endsWith('[]');
    node = node.properties![list ? step.slice(0, -2) : step]!;
    if (list) node = node.items!;
    if (!node) throw new Error(`no schema at ${path}`);
  }
  return node;
}

/** The repository's ProviderNode CRD served under `group`; with `keyed`, its atomic lists keyed as before. */
export function providerNodeCrdVariant(group: string, keyed: boolean): Record<string, any> {
  const crd = parse(readFileSync(join(CRD_DIR, 'chrysalis.dev_providernodes.yaml'), 'utf8')) as Record<string, any>;
  crd.metadata.name = `providernodes.${group}`;
  crd.spec.group = group;
  const schema = crd.spec.versions[0].schema.openAPIV3Schema as Schema;
  for (const [path, keys] of Object.entries(KEYED_BEFORE)) {
    const list = schemaAt(schema, path);
    if (list['x-kubernetes-list-type'] !== 'atomic') throw new Error(`${path} is not atomic in the CRD; update KEYED_BEFORE`);
    if (!keyed) continue;
    list['x-kubernetes-list-type'] = 'map';
    list['x-kubernetes-list-map-keys'] = keys;
  }
  return crd;
}

