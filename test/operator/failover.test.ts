// The controllers as the chart runs them: two processes of operator/src/main.ts --components controllers --leader-elect against one
// control plane. Only the Lease holder reconciles; kill -9 it and the standby takes the Lease once the
// lease duration has passed and carries on with the work (a new ProviderNode is challenged and its Node
// tainted). SIGTERM then stops the survivor cleanly (exit 0). A private plane: the operator is cluster-wide.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { AttestationPolicies, ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { Nodes, resourcePath } from '../../operator/src/kube/resource.js';
import { RestClient } from '../../operator/src/kube/rest.js';
import { TAINT_UNATTESTED } from '../../operator/src/marks.js';
import { installCrds } from '../../dev/install-crds.js';
import { startControlPlane, type ControlPlane } from '../../dev/cluster/control-plane.js';
import { freePort } from '../../dev/cluster/ports.js';

const LEASE_NS = 'chrysalis-system';
let plane: ControlPlane;
let rest: RestClient;
const children: ChildProcess[] = [];

test.before(async () => {
  plane = await startControlPlane();
  rest = new RestClient(plane.kubeConfig());
  await installCrds(plane.kubeConfig());
  // Nodes are challenged only against a policy that exists (no policy is never "any evidence").
  await rest.request('POST', resourcePath(AttestationPolicies), { body: { apiVersion: 'chrysalis.dev/v1alpha1', kind: 'AttestationPolicy', metadata: { name: 'default' }, spec: {} } });
  await rest.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: LEASE_NS } } });
});
test.after.always(async () => {
  for (const c of children) c.kill('SIGKILL');
  rest?.close();
  await plane?.stop();
});

async function startOperator(): Promise<{ child: ChildProcess; exited: Promise<number | null>; log: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'operator/src/main.ts',
    '--components', 'controllers', '--kubeconfig', plane.kubeconfigPath, '--leader-elect', '--lease-namespace', LEASE_NS,
    '--metrics-port', String(await freePort())],
  { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CHRYSALIS_LOG_LEVEL: 'info' } });
  children.push(child);
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, exited, log: () => log };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

interface LeaseView { spec?: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number } }
const lease = () => rest.request<LeaseView>('GET', `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NS}/leases/chrysalis-operator`);
const holder = async (): Promise<string | undefined> => (await lease()).spec?.holderIdentity || undefined;
/** defaultIdentity() is `<hostname>_<pid>_<random>`. */
const pidOf = (identity: string) => Number(identity.split('_').at(-2));

async function gpuHost(name: string): Promise<void> {
  const resources = { cpu: '64', memory: '512Gi', pods: '110', 'nvidia.com/gpu': '8' };
  await rest.request('POST', resourcePath(Nodes), { body: { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { type: 'kwok' } }, status: { capacity: resources, allocatable: resources } } });
  await rest.request('POST', resourcePath(ProviderNodes), { body: {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name },
    spec: { nodeName: name, tee: 'sev-snp', gpus: { model: 'H100', count: 8 }, payoutAddress: `0:${'c'.repeat(64)}` },
  } });
}

/** The leader's work on a new host: a challenge in the ProviderNode's status and the unattested taint on its Node. */
async function handled(name: string, timeoutMs: number): Promise<void> {
  await until(`${name} challenged and tainted`, async () => {
    const pn = await rest.request<ProviderNode>('GET', resourcePath(ProviderNodes, undefined, name));
    const node = await rest.request<{ spec?: { taints?: Array<{ key: string }> } }>('GET', resourcePath(Nodes, undefined, name));
    return pn.status?.attestation?.challenge?.nonce && node.spec?.taints?.some((x) => x.key === TAINT_UNATTESTED) ? true : undefined;
  }, timeoutMs);
}

test.serial('two operator processes: one leads; after kill -9 of the leader the standby takes over and keeps working; SIGTERM exits 0', async (t) => {
  t.timeout(180_000);
  const a = await startOperator();
  const b = await startOperator();
  const first = await until('a Lease holder', holder, 60_000);
  const leader = pidOf(first) === a.child.pid ? a : b;
  const standby = leader === a ? b : a;
  t.is(pidOf(first), leader.child.pid!, `the holder ${first} is one of the two processes`);

  await gpuHost('host-a');
  await handled('host-a', 60_000);

  leader.child.kill('SIGKILL');
  await leader.exited;
  // The dead leader's last renew, as it wrote it: nothing renews the Lease after this.
  const dead = await lease();
  t.is(dead.spec?.holderIdentity, first, 'the Lease still names the dead leader');
  const lastRenew = Date.parse(dead.spec!.renewTime!);
  const second = await until('the standby holding the Lease', async () => {
    const h = await holder();
    return h && h !== first ? h : undefined;
  }, 60_000);
  const seenAt = Date.now();
  t.is(pidOf(second), standby.child.pid!, 'the standby took the Lease');
  // Not before the dead leader's lease ran out: the standby must not act while the old lease is valid.
  // Measured from the leader's last renew, not from the kill (a loaded machine may have renewed late),
  // to when this test saw the new holder (no earlier than the takeover itself): never under the lease.
  const leaseMs = dead.spec!.leaseDurationSeconds! * 1000;
  t.log(`takeover seen ${((seenAt - lastRenew) / 1000).toFixed(1)} s after the dead leader's last renew (lease duration ${leaseMs / 1000} s)`);
  t.true(seenAt - lastRenew >= leaseMs, `took over ${seenAt - lastRenew} ms after the last renew, within the ${leaseMs} ms lease`);

  await gpuHost('host-b');
  await handled('host-b', 60_000);

  standby.child.kill('SIGTERM');
  t.is(await standby.exited, 0, `the survivor stops cleanly on SIGTERM; log tail: ${standby.log().slice(-800)}`);
});
