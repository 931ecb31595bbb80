// Metering counts a replica's usage only while its host's own attestation holds. A replica's key can
// outlive its host's attestation by up to a re-check interval: the attestation service renews no key on
// a host that is not attested, but does not shorten a key it gave before. Tokens reported while the host's
// attestation has lapsed are refused, and are not lost: reports are cumulative, so the first report after
// the host is attested again folds them.
import test from 'ava';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import type { KubeObject } from '../../operator/src/kube/resource.js';
import { addProviderNode, addReplica, newPayout, setHostAttestation, setUpEnv } from './_env.js';
import { replicaKey, report, signReport } from './_usage.js';

test('a replica\'s usage is refused while its host\'s attestation has lapsed, though its own key is unexpired, and folded in full once the host is attested again', async (t) => {
  const env = await setUpEnv(t, { prefix: 'settle-host' });
  const pn = await addProviderNode(env, newPayout());
  const key = replicaKey(43);
  await addReplica(env, pn, 'r-0', key, { expires: new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z') });
  const host = async () => (await env.client.get<ProviderNode & KubeObject>(ProviderNodes, pn))!;
  const units = async () => (await host()).status?.usage?.[0]?.units;

  // The host's attestation expired a minute ago; its Attested condition still says True (the controller
  // has not reconciled it since).
  env.providerNodeCache.put(await setHostAttestation(env, await host(), new Date(Date.now() - 60_000)));
  const lapsed = await env.ingest.ingest(signReport(key, report({ namespace: env.ns, pod: 'r-0', sequence: 1, prompt: 10, gen: 2 })));
  t.false(lapsed.accepted, 'folded with the host lapsed');
  t.is(lapsed.reasons[0]?.code, 'HOST_NOT_ATTESTED');
  t.regex(lapsed.reasons[0]?.message ?? '', /host's ProviderNode .* is not attested now/);
  t.is(await units(), undefined, 'nothing was folded');

  // Unexpired but with the condition False (the controller turned it: rejected, or its policy gone).
  const unexpired = await setHostAttestation(env, await host(), new Date(Date.now() + 3_600_000));
  const turned = await env.rest.request<ProviderNode & KubeObject>('PUT', `/apis/chrysalis.dev/v1alpha1/providernodes/${pn}/status`, {
    body: { ...unexpired, status: { ...unexpired.status, conditions: [{ type: 'Attested', status: 'False', reason: 'EvidenceRejected', message: 'set by the test', lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') }] } },
  });
  env.providerNodeCache.put(turned);
  const rejected = await env.ingest.ingest(signReport(key, report({ namespace: env.ns, pod: 'r-0', sequence: 2, prompt: 20, gen: 4 })));
  t.false(rejected.accepted, 'folded with the host not attested');
  t.is(rejected.reasons[0]?.code, 'HOST_NOT_ATTESTED');
  t.is(await units(), undefined);

  // Attested again: the next report's cumulative counters are folded whole.
  env.providerNodeCache.put(await setHostAttestation(env, await host(), new Date(Date.now() + 3_600_000)));
  const again = await env.ingest.ingest(signReport(key, report({ namespace: env.ns, pod: 'r-0', sequence: 3, prompt: 30, gen: 6 })));
  t.true(again.accepted, JSON.stringify(again.reasons));
  t.is(again.delta?.units, 36n);
  t.is(await units(), '36');
});
