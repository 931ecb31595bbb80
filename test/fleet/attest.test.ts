// The fleet simulator against a real operator: a private control plane (so the operator's cluster-wide
// controllers touch no other test's objects), the operator and its attestation service in this process,
// kwok GPU nodes whose attesters use the simulated TEE and bound ServiceAccount tokens; and `chrysalis
// reattest` against that whole path.
import test, { type ExecutionContext } from 'ava';
import type { KubeConfig } from '@kubernetes/client-node';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { Nodes, resourcePath } from '../../operator/src/kube/resource.js';
import { isNotFound, RestClient } from '../../operator/src/kube/rest.js';
import { TAINT_UNATTESTED } from '../../operator/src/marks.js';
import type { ControlPlane } from '../../dev/cluster/control-plane.js';
import { createFleet, LABEL_FLEET } from '../../dev/fleet/fleet.js';
import { startPrivateOperator, type LocalOperator, type PrivateOperator } from '../../dev/fleet/operator.js';
import { runCli } from '../cli/helpers.js';

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

/** A fleet of `nodes` simulated nodes (policy fleet-PREFIX, removed at teardown), once every one is Attested=True. */
async function attestedFleet(t: ExecutionContext, prefix: string, nodes: number, providers: number) {
  const fleet = await createFleet(kc, { nodes, serviceUrl: operator.serviceUrl, ca: operator.ca, providers, namePrefix: prefix, policyName: `fleet-${prefix}` });
  t.teardown(() => fleet.stop({ deleteObjects: true }));
  const pns = await until(`all ${nodes} ProviderNodes Attested=True`, async () => {
    const m = await providerNodes(prefix);
    return m.size === nodes && [...m.values()].every((p) => cond(p, 'Attested')?.status === 'True') ? m : undefined;
  }, 90_000);
  return { fleet, pns };
}

test.serial('ten simulated nodes attest through the real service: Attested=True and the taint is gone', async (t) => {
  const { fleet, pns } = await attestedFleet(t, 'ok', 10, 3);
  for (const name of fleet.nodeNames) {
    t.true(pns.get(name)!.status?.attestation?.simulated, `${name} attested as simulated`);
    // The verdict lands in status first; the same reconcile then lifts the taint (a moment later on a
    // busy machine, or after a conflict retry).
    const untainted = await until(`${name} without the unattested taint`, async () => {
      const node = await rest.request<{ spec?: { taints?: Array<{ key: string }> } }>('GET', resourcePath(Nodes, undefined, name));
      return (node.spec?.taints ?? []).some((x) => x.key === TAINT_UNATTESTED) ? undefined : true;
    }, 30_000).catch(() => false);
    t.true(untainted, `${name} lost the unattested taint`);
  }
  t.is(new Set([...pns.values()].map((p) => p.spec.payoutAddress)).size, 3, 'three distinct providers');
});

test.serial('chrysalis reattest --wait re-checks attested nodes through the real service and attesters, and reports a host whose GPUs left CC mode as rejected', async (t) => {
  const { fleet, pns: first } = await attestedFleet(t, 're', 3, 1);
  const env = { KUBECONFIG: plane.kubeconfigPath };

  // All three, selected by label: each is challenged ahead of its hourly re-check and verified again.
  const all = await runCli(['reattest', '-l', `${LABEL_FLEET}=re`, '--wait', '--timeout', '120'], env);
  t.is(all.code, 0, all.stdout + all.stderr);
  const again = await providerNodes('re');
  for (const name of fleet.nodeNames) {
    t.regex(all.stdout, new RegExp(`^${name}: verified — `, 'm'));
    t.true(Date.parse(again.get(name)!.status!.attestation!.verifiedAt!) > Date.parse(first.get(name)!.status!.attestation!.verifiedAt!), `${name} verified anew`);
  }

  // One host's GPUs leave confidential-computing mode: the re-check asked for finds it now, not in an hour.
  const bad = fleet.nodeNames[0]!;
  await fleet.injectFault(bad, 'gpu-cc-off');
  const one = await runCli(['reattest', bad, '--wait', '--timeout', '120'], env);
  t.is(one.code, 1, one.stdout + one.stderr);
  t.regex(one.stdout, new RegExp(`^${bad}: REJECTED — GPU_CC_DISABLED`, 'm'));
  const quarantined = await until(`${bad} Quarantined=True`, async () => {
    const pn = (await providerNodes('re')).get(bad);
    return cond(pn, 'Quarantined')?.status === 'True' ? pn : undefined;
  }, 30_000);
  t.is(quarantined.status?.quarantine?.reason, 'ReattestationFailed');
});
