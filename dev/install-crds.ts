// Installs the Chrysalis CRDs from crds/ into a cluster and waits until the apiserver serves them.
// Idempotent (server-side apply), so every test file that needs the kinds can call it; concurrent callers
// just apply the same content twice.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ApiextensionsV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  loadYaml,
  type KubeConfig,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { parse } from 'yaml';
import { packageRoot } from './cluster/package-root.js';

export const CRD_DIR = join(packageRoot(import.meta.url), 'crds');
export const TEST_FIELD_MANAGER = 'chrysalis-tests';

function crdFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(dir, f));
}

/**
 * The CRD documents in crds/ (not the samples), in file-name order, as plain JSON with the wire names
 * (`default`, `x-kubernetes-validations`), which is what schema checks want to look at.
 */
export function loadCrds(dir = CRD_DIR): Record<string, any>[] {
  return crdFiles(dir).map((f) => parse(readFileSync(f, 'utf8')) as Record<string, any>);
}

export async function installCrds(kc: KubeConfig, timeoutMs = 30_000): Promise<void> {
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  // KubernetesObjectApi serializes built-in kinds through client-node's typed models, whose attribute
  // names differ from the wire names (`_default`, `xKubernetesValidations`): a plain parsed object would
  // silently lose its defaults and CEL rules. loadYaml deserializes into those models first.
  const crds = crdFiles(CRD_DIR).map((f) => loadYaml<V1CustomResourceDefinition>(readFileSync(f, 'utf8')));
  for (const crd of crds) {
    // force: the tests own these objects; a previous run with other content must not block this one.
    await objects.patch(crd, undefined, undefined, TEST_FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
  }
  const deadline = Date.now() + timeoutMs;
  for (const crd of crds) {
    const name = crd.metadata!.name!;
    for (;;) {
      const live = await ext.readCustomResourceDefinition({ name });
      const conditions = live.status?.conditions ?? [];
      const established = conditions.some((c) => c.type === 'Established' && c.status === 'True');
      // NamesAccepted=False (e.g. a short name taken by another CRD) never becomes Established: say why.
      const names = conditions.find((c) => c.type === 'NamesAccepted' && c.status === 'False');
      if (names) throw new Error(`CRD ${name}: names not accepted: ${names.message}`);
      if (established) break;
      if (Date.now() > deadline) {
        throw new Error(`CRD ${name} not Established within ${timeoutMs} ms: ${JSON.stringify(conditions)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
