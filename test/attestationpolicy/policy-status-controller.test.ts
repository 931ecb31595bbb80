// AttestationPolicy status on the real apiserver: each policy says whether it allows any image and how
// many ProviderNodes use it, and the count follows a node that moves from one policy to another.
import test from 'ava';
import type { AttestationPolicy } from '../../operator/src/api/attestationpolicy.js';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { resourcePath } from '../../operator/src/kube/resource.js';
import { RestClient } from '../../operator/src/kube/rest.js';
import { eventually, providerNodeRun } from '../fixtures/provider-node-controller.js';

test('a policy without an image allow list is flagged on its status, and its node count follows policyRef changes', async (t) => {
  const fx = await providerNodeRun(t);
  const open = `open-${fx.run}`;
  const pinned = `pinned-${fx.run}`;
  await fx.createPolicy(open);
  await fx.createPolicy(pinned, { allowedImageHashes: ['ab'.repeat(32)] });
  const nodeName = `pn-count-${fx.run}`;
  await fx.createProviderNode(nodeName, open);
  fx.startController();

  const status = async (name: string) => (await fx.getPolicy(name)).status;
  const anyImage = (s: AttestationPolicy['status']) => s?.conditions?.find((c) => c.type === 'AllowsAnyImage');
  await eventually('open policy: AllowsAnyImage=True, 1 node', async () => {
    const s = await status(open);
    return anyImage(s)?.status === 'True' && s?.nodes === 1 ? s : undefined;
  });
  await eventually('pinned policy: AllowsAnyImage=False, 0 nodes', async () => {
    const s = await status(pinned);
    return anyImage(s)?.status === 'False' && s?.nodes === 0 ? s : undefined;
  });

  await new RestClient(fx.kc).request('PATCH', resourcePath(ProviderNodes, undefined, nodeName), {
    contentType: 'application/merge-patch+json', body: { spec: { policyRef: { name: pinned } } },
  });
  await eventually('the node counted under the pinned policy', async () => ((await status(pinned))?.nodes === 1 ? true : undefined));
  await eventually('and no longer under the open one', async () => ((await status(open))?.nodes === 0 ? true : undefined));
  t.pass();
});
