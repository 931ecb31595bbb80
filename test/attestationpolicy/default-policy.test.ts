// The default AttestationPolicy, created by the operator from its configuration (defaultPolicySpec) on
// the real apiserver: created when absent, with its annotation and an Event; an edit is never undone,
// also by a restarted operator; a deleted one is created again. Each run names its own default policy and
// its informer watches that name only, so other tests' policies are neither seen nor written.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import type { AttestationPolicy } from '../../operator/src/api/attestationpolicy.js';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { DEFAULT_CONFIG, type OperatorConfig } from '../../operator/src/config.js';
import { attestationPolicyController } from '../../operator/src/controllers/attestationpolicy/controller.js';
import { AttestationPolicies, ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { Manager } from '../../operator/src/kube/manager.js';
import { resourcePath, type KubeObject } from '../../operator/src/kube/resource.js';
import { isNotFound, RestClient } from '../../operator/src/kube/rest.js';
import { installCrds } from '../../dev/install-crds.js';
import { testCluster } from '../cluster/index.js';
import { eventually } from '../fixtures/provider-node-controller.js';

const SPEC = { allowSimulated: false, debugAllowed: false, gpu: { ccModeRequired: true }, maxEvidenceAgeSeconds: 300, reattestIntervalSeconds: 3600 };

test('the operator creates the default policy when absent, never undoes an edit, and creates it again once deleted', async (t) => {
  const kc = (await testCluster()).kubeConfig();
  await installCrds(kc);
  const name = `default-${randomBytes(3).toString('hex')}`;
  const admin = new RestClient(kc);
  t.teardown(async () => {
    await admin.request('DELETE', resourcePath(AttestationPolicies, undefined, name)).catch(() => undefined);
    admin.close();
  });
  const config: OperatorConfig = { ...DEFAULT_CONFIG, defaultPolicyName: name, defaultPolicySpec: SPEC };
  const start = () => {
    const manager = new Manager({ kubeConfig: kc, leaderElection: false, health: false });
    attestationPolicyController(manager, config, {
      policies: manager.informer<AttestationPolicy & KubeObject>(AttestationPolicies, { fieldSelector: `metadata.name=${name}` }),
      // No ProviderNode of this run: none names the policy, so only the start's enqueue creates it.
      providerNodes: manager.informer<ProviderNode & KubeObject>(ProviderNodes, { labelSelector: `chrysalis.dev/test-run=${name}` }),
    });
    const running = manager.run();
    return async () => { await manager.stop(); await running.catch(() => undefined); };
  };
  const get = () => admin.request<AttestationPolicy & KubeObject>('GET', resourcePath(AttestationPolicies, undefined, name));
  const absent = await get().then(() => false, (err) => isNotFound(err));
  t.true(absent, 'no policy of that name before the operator starts');

  let stop = start();
  const created = await eventually('the default policy created', () => get());
  t.like(created.spec, SPEC);
  t.regex(created.metadata?.annotations?.['chrysalis.dev/edit'] ?? '', new RegExp(`kubectl edit attestationpolicy ${name}`));
  const events = await eventually('its Event', async () => {
    const list = await admin.request<{ items: Array<{ reason: string; regarding: { name: string } }> }>('GET', '/apis/events.k8s.io/v1/namespaces/default/events', { query: { fieldSelector: `regarding.name=${name}` } });
    return list.items.some((e) => e.reason === 'CreatedAsDefault') ? list.items : undefined;
  });
  t.true(events.length >= 1);

  // The cluster's operator pins an image; the controller keeps reconciling (status) and never reverts it,
  // and neither does a restarted operator (what an upgrade does).
  const hash = 'ab'.repeat(32);
  await admin.request('PATCH', resourcePath(AttestationPolicies, undefined, name), { contentType: 'application/merge-patch+json', body: { spec: { allowedImageHashes: [hash] } } });
  await eventually('the edited policy reconciled (AllowsAnyImage=False)', async () => {
    const p = await get();
    return p.status?.conditions?.find((c) => c.type === 'AllowsAnyImage' && c.status === 'False') ? p : undefined;
  });
  await stop();
  stop = start();
  await new Promise((r) => setTimeout(r, 2000));
  t.deepEqual((await get()).spec?.allowedImageHashes, [hash], 'the edit survives a restarted operator');
  t.is((await get()).metadata?.uid, created.metadata?.uid, 'the same object: never deleted and re-created');

  // Deleted: created again, from the configuration.
  await admin.request('DELETE', resourcePath(AttestationPolicies, undefined, name));
  const again = await eventually('the default policy created again', async () => {
    const p = await get();
    return p.metadata?.uid !== created.metadata?.uid ? p : undefined;
  });
  t.like(again.spec, SPEC);
  t.is(again.spec?.allowedImageHashes, undefined);
  await stop();
});
