// The fleet simulator against a real operator: a private control plane (so the operator's cluster-wide
// controllers touch no other test's objects), the operator and its attestation service in this process,
// kwok GPU nodes whose attesters use the simulated TEE and bound ServiceAccount tokens.
import test from 'ava';
import type { KubeConfig } from '@kubernetes/client-node';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { Nodes, resourcePath } from '../../operator/src/kube/resource.js';
import { isNotFound, RestClient } from '../../operator/src/kube/rest.js';
import { TAINT_UNATTESTED } from '../../operator/src/marks.js';
import type { ControlPlane } from '../../dev/cluster/control-plane.js';
import { createFleet, LABEL_FLEET, type FaultKind } from '../../dev/fleet/fleet.js';
import { startPrivateOperator, type LocalOperator, type PrivateOperator } from '../../dev/fleet/operator.js';

let stack: PrivateOperator;
let plane: ControlPlane;
let operator: LocalOperator;
let kc: KubeConfig;
let rest: RestClient;

test.before(async () => {
  stack = await startPrivateOperator();
  ({ plane, operator, kc, rest } = stack);
});
test.after.always(async () => {
  await stack?.stop();
});

const cond = (pn: ProviderNode | undefined, type: string) => pn?.status?.conditions?.find((c) => c.type === type);

async function providerNodes(prefix: string): Promise<Map<string, ProviderNode>> {
  const list = await rest.request<{ items: ProviderNode[] }>('GET', resourcePath(ProviderNodes), { query: { labelSelector: `${LABEL_FLEET}=${prefix}` } });
  return new Map(list.items.map((p) => [p.metadata.name ?? "", p]));
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function podsOn(node: string): Promise<number> {
  const pods = await rest.request<{ items: unknown[] }>('GET', '/api/v1/pods', { query: { fieldSelector: `spec.nodeName=${node}` } });
  return pods.items.length;
}

test.serial('every injected fault leaves its node refused or quarantined, and it never receives a replica', async (t) => {
  const evidenceFaults = ['forged-signature', 'replayed-nonce', 'gpu-cc-off', 'expired-evidence'] as const;
  const faults = Object.fromEntries(evidenceFaults.map((f, i) => [`bad-${i}`, f]));
  const fleet = await createFleet(kc, { nodes: 6, serviceUrl: operator.serviceUrl, ca: operator.ca, namePrefix: 'bad', policyName: 'fleet-bad', faults });
  t.teardown(() => fleet.stop({ deleteObjects: true }));
  await fleet.injectFault('bad-4', 'node-disappears' satisfies FaultKind);
  const expectedCode: Record<string, RegExp> = {
    'forged-signature': /SIGNATURE_INVALID/, 'replayed-nonce': /BINDING_MISMATCH|NONCE_MISMATCH/,
    'gpu-cc-off': /GPU_CC_DISABLED/, 'expired-evidence': /CERT_EXPIRED/,
  };
  const pns = await until('a verdict on every faulty node', async () => {
    const m = await providerNodes('bad');
    return evidenceFaults.every((_, i) => m.get(`bad-${i}`)?.status?.attestation?.lastFailure) ? m : undefined;
  }, 60_000);
  for (const [i, fault] of evidenceFaults.entries()) {
    const pn = pns.get(`bad-${i}`)!;
    const failure = `${pn.status!.attestation!.lastFailure!.code}: ${pn.status!.attestation!.lastFailure!.message}`;
    t.regex(failure, expectedCode[fault]!, `${fault}: ${failure}`);
    t.not(cond(pn, 'Attested')?.status, 'True', `${fault}: not attested`);
    t.not(cond(pn, 'Schedulable')?.status, 'True', `${fault}: not schedulable`);
    const node = await rest.request<{ spec?: { taints?: Array<{ key: string }> } }>('GET', resourcePath(Nodes, undefined, `bad-${i}`));
    t.true((node.spec?.taints ?? []).some((x) => x.key === TAINT_UNATTESTED), `${fault}: taint kept`);
    t.is(await podsOn(`bad-${i}`), 0, `${fault}: no replica on it`);
  }
  // The node that disappeared: its Node is gone and its ProviderNode is not schedulable.
  await until('Node bad-4 gone', () => rest.request('GET', resourcePath(Nodes, undefined, 'bad-4')).then(() => undefined, (e) => (isNotFound(e) ? true : undefined)), 30_000);
  const gone = await until('bad-4 unschedulable', async () => {
    const p = (await providerNodes('bad')).get('bad-4');
    return p && cond(p, 'Schedulable')?.status !== 'True' && cond(p, 'Attested')?.status !== 'True' ? p : undefined;
  }, 30_000);
  t.not(cond(gone, 'Schedulable')?.status, 'True');
  t.is(await podsOn('bad-4'), 0);
});
