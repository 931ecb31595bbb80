// The pool's Service is written once, then left alone: every reconcile of a pool (there is one per
// replica change) runs the routing step, and a Service the cache shows as applied must cost no request.
// It is first written when a replica is routable (a scale-up writes none), and kept from then on.
// Against the real apiserver, so the comparison is with the object as the apiserver returns it, defaults
// (clusterIP, sessionAffinity, ipFamilies...) included.
import test from 'ava';
import { testCluster, useNamespace } from '../cluster/index.js';
import { installCrds } from '../../dev/install-crds.js';
import type { InferencePool } from '../../operator/src/api/index.js';
import { PoolRouting } from '../../operator/src/controllers/inferencepool/routing.js';
import { DEFAULT_GATEWAY_INFERENCE_EXTENSION } from '../../operator/src/controllers/inferencepool/gateway-inference-pool.js';
import { KubeClient } from '../../operator/src/kube/kube-client.js';
import { NO_FENCE } from '../../operator/src/kube/leader-election.js';
import { Services, type KubeObject } from '../../operator/src/kube/resource.js';
import { Store } from '../../operator/src/kube/store.js';
import { adminClient, createPool, getPool, poolObject, uniqueSuffix } from './kube-fixtures.js';

test('no Service before a replica is routable; then a reconcile whose cached Service matches what it would apply sends nothing; an edited one is put back', async (t) => {
  const kc = (await testCluster()).kubeConfig();
  await installCrds(kc);
  const namespace = await useNamespace(t, 'route-idem');
  const admin = adminClient(kc);
  t.teardown(() => admin.rest.close());
  await createPool(admin, poolObject('idem', namespace, 1, `I${uniqueSuffix()}`));
  const pool = await getPool(admin, namespace, 'idem') as InferencePool;

  const writes: string[] = [];
  class Counting extends KubeClient {
    override async apply<T extends KubeObject>(resource: Parameters<KubeClient['apply']>[0], obj: T, options?: Parameters<KubeClient['apply']>[2]): Promise<T> {
      writes.push(`${resource.plural}/${obj.metadata?.name}`);
      return super.apply<T>(resource, obj, options);
    }
  }
  const client = new Counting(admin.rest, NO_FENCE);
  const services = new Store<KubeObject>();
  let routable = false;
  const routing = new PoolRouting({ client, services, crds: new Store<KubeObject>(), config: DEFAULT_GATEWAY_INFERENCE_EXTENSION, hasRoutableReplica: () => routable });

  // Replicas placed, none attested yet: a Service would select nothing, so none is written.
  const before = await routing.reconcile(pool);
  t.deepEqual(before.failures, []);
  t.deepEqual(writes, [], 'no Service while no replica is routable');
  t.is(before.endpoint, undefined);
  t.is(await admin.get(Services, 'idem', namespace), undefined);

  routable = true;
  const first = await routing.reconcile(pool);
  t.deepEqual(first.failures, []);
  t.deepEqual(writes, ['services/idem']);
  t.deepEqual(first.endpoint, { service: 'idem', url: `https://idem.${namespace}.svc` });

  // The informer's copy: the object as the apiserver returns it.
  services.put(await admin.get<KubeObject>(Services, 'idem', namespace) as KubeObject);
  const second = await routing.reconcile(pool);
  t.deepEqual(writes, ['services/idem'], 'no second write');
  t.deepEqual(second.endpoint, first.endpoint);

  // No replica routable any more: the Service stays, and is still kept as applied.
  routable = false;
  t.deepEqual((await routing.reconcile(pool)).endpoint, first.endpoint);
  // Someone edits the selector down to the pool label alone: the next reconcile puts it back.
  await admin.patchMerge(Services, 'idem', namespace, { spec: { selector: { 'chrysalis.dev/attested': null } } }, undefined, { fieldManager: 'someone' });
  const edited = await admin.get<KubeObject & { spec: { selector: Record<string, string> } }>(Services, 'idem', namespace);
  t.deepEqual(edited?.spec.selector, { 'chrysalis.dev/pool': 'idem' });
  services.put(edited as KubeObject);
  await routing.reconcile(pool);
  t.is(writes.length, 2);
  const restored = await admin.get<KubeObject & { spec: { selector: Record<string, string> } }>(Services, 'idem', namespace);
  t.deepEqual(restored?.spec.selector, { 'chrysalis.dev/pool': 'idem', 'chrysalis.dev/attested': 'true' });
});
