// The Gateway API Inference Extension's InferencePool beside each pool, against the real local control
// plane: without the extension's CRD nothing of it is read or written; once a v1 copy of the CRD is
// installed (test/fixtures/gateway-api-inference-extension/, written from the extension's v1 API
// reference) every pool gets one with the routing selector, and an object of that name someone else made
// is left alone. Serial: the CRD is cluster-wide, and the first test needs it absent.
import { readFileSync } from 'node:fs';
import test from 'ava';
import { parse } from 'yaml';
import { testCluster, useNamespace } from '../cluster/index.js';
import { installCrds } from '../../dev/install-crds.js';
import { CustomResourceDefinitions, DEFAULT_GATEWAY_INFERENCE_EXTENSION, GatewayInferencePools, GIE_CRD_NAME } from '../../operator/src/controllers/inferencepool/gateway-inference-pool.js';
import { PoolRouting } from '../../operator/src/controllers/inferencepool/routing.js';
import type { InferencePool } from '../../operator/src/api/index.js';
import { Store } from '../../operator/src/kube/store.js';
import { REPLICA_HTTPS_PORT } from '../../operator/src/controllers/inferencepool/endpoint.js';
import type { KubeClient } from '../../operator/src/kube/kube-client.js';
import { Events, resourcePath, Services, type KubeObject } from '../../operator/src/kube/resource.js';
import { LABEL_POOL, LABEL_REPLICA_ATTESTED } from '../../operator/src/marks.js';
import { adminClient, createPool, eventually, getPool, poolObject, startController, uniqueSuffix } from './kube-fixtures.js';

const CRD_FIXTURE = new URL('../fixtures/gateway-api-inference-extension/inferencepools.yaml', import.meta.url);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A cache holding `obj` alone, as the controller's informer for the extension's CRD would. */
function storeOf(obj: KubeObject | undefined): Store<KubeObject> {
  const store = new Store<KubeObject>();
  if (obj) store.put(obj);
  return store;
}

test.before(async () => {
  await installCrds((await testCluster()).kubeConfig());
});

async function removeExtensionCrd(client: KubeClient): Promise<void> {
  await client.delete(CustomResourceDefinitions, GIE_CRD_NAME);
  await eventually('the extension CRD gone', async () => ((await client.get(CustomResourceDefinitions, GIE_CRD_NAME)) === undefined ? true : undefined));
}

async function installExtensionCrd(client: KubeClient): Promise<void> {
  await client.rest.request('POST', resourcePath(CustomResourceDefinitions), { body: parse(readFileSync(CRD_FIXTURE, 'utf8')) });
  await eventually('the extension CRD Established', async () => {
    const crd = await client.get<KubeObject & { status?: { conditions?: Array<{ type: string; status: string }> } }>(CustomResourceDefinitions, GIE_CRD_NAME);
    return crd?.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
  });
}

test.serial('without the extension CRD nothing of it is read or written, and no Service is written before a replica is routable', async (t) => {
  const kc = (await testCluster()).kubeConfig();
  const client = adminClient(kc);
  await removeExtensionCrd(client);
  const namespace = await useNamespace(t, 'gie-absent');
  const controller = startController(kc, { namespace });
  t.teardown(async () => {
    await controller.stop();
    client.rest.close();
  });
  // Every request the controller's process makes.
  const paths: string[] = [];
  const rest = controller.manager.rest;
  const request = rest.request.bind(rest);
  rest.request = (<T>(method: string, path: string, options?: Parameters<typeof request>[2]) => {
    paths.push(`${method} ${path}`);
    return request<T>(method, path, options);
  }) as typeof rest.request;

  // No GPU offers this model: the pool places nothing, so no replica is routable: no Service, no endpoint.
  await createPool(client, poolObject('mistral', namespace, 1, `G${uniqueSuffix()}`));
  await eventually('the pool\'s status', async () => (await getPool(client, namespace, 'mistral'))?.status?.conditions?.length ? true : undefined);
  await sleep(1_000);
  t.is((await getPool(client, namespace, 'mistral'))?.status?.endpoint, undefined);
  t.is(await client.get(Services, 'mistral', namespace), undefined);
  t.true(paths.some((p) => p.includes('/inferencepools')), 'the recording saw the controller\'s requests');
  t.deepEqual(paths.filter((p) => p.includes('/services') && !p.startsWith('GET')), [], 'no Service written');
  t.deepEqual(paths.filter((p) => p.includes('/apis/inference.networking.k8s.io')), []);
});

test.serial('with the v1 CRD installed each pool gets an extension InferencePool with the routing selector, the RA-TLS port and the endpoint picker; one someone else made is left alone', async (t) => {
  const kc = (await testCluster()).kubeConfig();
  const client = adminClient(kc);
  await removeExtensionCrd(client);
  const namespace = await useNamespace(t, 'gie');
  const controller = startController(kc, { namespace });
  t.teardown(async () => {
    await controller.stop();
    await removeExtensionCrd(client);
    client.rest.close();
  });
  const model = `G${uniqueSuffix()}`;
  // The pool exists (and has been reconciled) before the CRD: installing the CRD is what wakes it.
  await createPool(client, poolObject('qwen', namespace, 1, model));
  await eventually('the pool\'s status', async () => (await getPool(client, namespace, 'qwen'))?.status?.conditions?.length ? true : undefined);
  await installExtensionCrd(client);

  const gie = await eventually('the extension InferencePool', async () => client.get<KubeObject & { spec: Record<string, unknown> }>(GatewayInferencePools, 'qwen', namespace));
  const pool = await getPool(client, namespace, 'qwen');
  t.like(gie.metadata?.ownerReferences?.[0], { kind: 'InferencePool', name: 'qwen', uid: pool?.metadata.uid, controller: true });
  t.deepEqual(gie.spec.selector, { matchLabels: { [LABEL_POOL]: 'qwen', [LABEL_REPLICA_ATTESTED]: 'true' } });
  t.deepEqual(gie.spec.targetPorts, [{ number: REPLICA_HTTPS_PORT }]);
  // The CRD's defaults (group "") filled in around what the operator wrote.
  t.deepEqual(gie.spec.endpointPickerRef, { group: '', kind: 'Service', name: 'qwen-epp', port: { number: 9002 }, failureMode: 'FailClose' });
  // Written whether or not a replica is routable (no follow-on writes, unlike a Service); the status
  // reports it in status.endpoint beside the Service, which waits for a routable replica (none here).
  t.is((await getPool(client, namespace, 'qwen'))?.status?.endpoint, undefined);
  const routing = new PoolRouting({
    client, services: new Store<KubeObject>(), crds: storeOf(await client.get<KubeObject>(CustomResourceDefinitions, GIE_CRD_NAME)),
    config: DEFAULT_GATEWAY_INFERENCE_EXTENSION, hasRoutableReplica: () => true,
  });
  t.deepEqual((await routing.reconcile(pool as InferencePool)).endpoint, { service: 'qwen', url: `https://qwen.${namespace}.svc`, gatewayInferencePool: 'qwen' });

  // Someone's own extension InferencePool, then a Chrysalis pool of the same name.
  const theirs = { matchLabels: { app: 'theirs' } };
  await client.rest.request('POST', resourcePath(GatewayInferencePools, namespace), {
    body: { apiVersion: 'inference.networking.k8s.io/v1', kind: 'InferencePool', metadata: { name: 'taken', namespace }, spec: { selector: theirs, targetPorts: [{ number: 8000 }], endpointPickerRef: { name: 'their-epp', port: { number: 9002 } } } },
  });
  await createPool(client, poolObject('taken', namespace, 1, model));
  await eventually('the conflict reported', async () => {
    const events = await client.list<KubeObject & { reason?: string; regarding?: { name?: string } }>(Events, { namespace });
    return events.items.some((e) => e.reason === 'GatewayInferencePoolConflict' && e.regarding?.name === 'taken') ? true : undefined;
  });
  const left = await client.get<KubeObject & { spec: { selector: unknown } }>(GatewayInferencePools, 'taken', namespace);
  t.deepEqual(left?.spec.selector, theirs);
  t.is(left?.metadata?.ownerReferences, undefined);
  const taken = await getPool(client, namespace, 'taken');
  t.is((await routing.reconcile(taken as InferencePool)).endpoint?.gatewayInferencePool, undefined);
});
