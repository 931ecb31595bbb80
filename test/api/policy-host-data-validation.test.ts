// spec.allowedHostData on the real apiserver: a HOST_DATA entry that is not exactly 32 bytes of
// lowercase hex is refused at `kubectl apply` with a message naming the field and the fix, like the
// measurement lists; a valid one is stored as written.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { ApiException, KubernetesObjectApi, PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { testCluster } from '../cluster/index.js';
import { TEST_FIELD_MANAGER, installCrds } from '../../dev/install-crds.js';

const cluster = await testCluster();
const kc = cluster.kubeConfig();
const objects = KubernetesObjectApi.makeApiClient(kc);
const run = randomBytes(3).toString('hex');

test.before('install the CRDs', async () => {
  await installCrds(kc);
});

const policy = (hostData: string[]) => ({
  apiVersion: 'chrysalis.dev/v1alpha1', kind: 'AttestationPolicy',
  metadata: { name: `host-data-${run}-${randomBytes(2).toString('hex')}` },
  spec: { allowedHostData: hostData },
}) as KubernetesObject & { spec: { allowedHostData: string[] } };

const dryRunApply = (obj: KubernetesObject) => objects.patch(obj, undefined, 'All', TEST_FIELD_MANAGER, true, PatchStrategy.ServerSideApply);

for (const [what, value] of [
  ['31 bytes', 'ab'.repeat(31)],
  ['uppercase hex', 'AB'.repeat(32)],
  ['a 48-byte measurement in the HOST_DATA list', 'ab'.repeat(48)],
  ['not hex', 'zz'.repeat(32)],
] as const) {
  test(`a HOST_DATA entry of ${what} is refused, naming spec.allowedHostData`, async (t) => {
    const err = await t.throwsAsync(dryRunApply(policy([value])), { instanceOf: ApiException });
    const e = err as ApiException<unknown>;
    t.is(e.code, 422);
    const body = typeof e.body === 'string' ? JSON.parse(e.body) : e.body;
    t.regex(String(body?.message), /spec\.allowedHostData\[0\]/);
    // Too long is refused by maxLength before CEL runs; every other shape by the rule's own message.
    if (value.length <= 64) t.regex(String(body?.message), /must be SEV-SNP HOST_DATA as exactly 64 lowercase hex characters/);
  });
}

test('a valid HOST_DATA allow list is stored as written', async (t) => {
  const hostData = ['a3'.repeat(32), '0'.repeat(64)];
  const live = await dryRunApply(policy(hostData)) as KubernetesObject & { spec: { allowedHostData: string[] } };
  t.deepEqual(live.spec.allowedHostData, hostData);
});
