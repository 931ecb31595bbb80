// The chart's RBAC is enough, against a real apiserver: the operator's controllers and its attestation
// service each run with exactly the permissions the chart gives its own ServiceAccount (a kubeconfig that
// impersonates it, on a private control plane where the chart's rendered ServiceAccounts, roles and
// bindings are the only grants), with leader election as the chart runs them. A simulated fleet then
// goes through node attestation, replica placement and attestation, metering, settlement on the sandbox
// chain (leaves ConfigMaps, the sandbox key Secret) and a scale-down. Any request the apiserver refuses fails the
// test with the request named, so a verb missing from operator/src/rbac/permissions.ts cannot hide.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:https';
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import type { InferencePool } from '../../operator/src/api/inferencepool.js';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import type { SettlementAccount } from '../../operator/src/api/settlementaccount.js';
import { InferencePools, ProviderNodes, SettlementAccounts } from '../../operator/src/kube/chrysalis-resources.js';
import type { Manager } from '../../operator/src/kube/manager.js';
import { resourcePath } from '../../operator/src/kube/resource.js';
import { isConflict, RestClient } from '../../operator/src/kube/rest.js';
import { buildOperator, startAttestationService, type OperatorComponent } from '../../operator/src/main.js';
import { LABEL_SETTLEMENT_ACCOUNT } from '../../operator/src/marks.js';
import { operatorKeySecretName } from '../../operator/src/settlement/keys.js';
import { installCrds } from '../../dev/install-crds.js';
import { startControlPlane, type ControlPlane } from '../../dev/cluster/control-plane.js';
import { freePort } from '../../dev/cluster/ports.js';
import { createFleet, LABEL_FLEET, type Fleet } from '../../dev/fleet/fleet.js';
import { FLEET_ATTESTER_SERVICE_ACCOUNT } from '../../dev/fleet/operator.js';
import { applyChartRbac, forbiddenRequestCount, impersonatingKubeconfig, recordForbidden, serviceAccountUser } from './as-serviceaccount.js';
import { one, render } from './helm.js';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import type { AttestationPolicy } from '../../operator/src/api/attestationpolicy.js';
import { AttestationPolicies } from '../../operator/src/kube/chrysalis-resources.js';

const RELEASE = 'chry';
const SYSTEM_NS = 'chrysalis-system';
const TENANT = 'tenant';
const PREFIX = 'rbac';
const NODES = 3;
const REPLICAS = 2;

let plane: ControlPlane;
let adminKc: KubeConfig;
let admin: RestClient;
let dir: string;
/** Each running component: its manager and what the apiserver refused it. */
const started: Array<{ name: string; manager: Manager; forbidden: string[]; running: Promise<unknown> }> = [];
let server: Server | undefined;
let serviceUrl = '';
let defaultPolicySpec: Record<string, unknown> | undefined;
let ca = '';

test.before(async () => {
  plane = await startControlPlane();
  adminKc = plane.kubeConfig();
  admin = new RestClient(adminKc, { qps: 100, burst: 200 });
  dir = mkdtempSync(join(tmpdir(), 'chrysalis-rbac-'));
  await installCrds(adminKc);
  const objects = await render({ release: RELEASE, namespace: SYSTEM_NS, set: [`rbac.settlement.namespaces={${TENANT}}`] });
  await applyChartRbac(admin, objects);
  // The controllers get the default policy the chart configures (its rendered operator ConfigMap's
  // defaultPolicySpec), to create with the chart's grant.
  const rendered = parseYaml((one(objects, 'ConfigMap', (o) => o.metadata.name === `${RELEASE}-chrysalis-operator`).data as Record<string, string>)['config.yaml']!) as Record<string, unknown>;
  defaultPolicySpec = rendered.defaultPolicySpec as Record<string, unknown>;
  writeFileSync(join(dir, 'config.yaml'), toYaml({ defaultPolicySpec }));
  // Pods are admitted only once kube-controller-manager has made the namespace's default ServiceAccount.
  await until(`ServiceAccount ${TENANT}/default`, () => admin.request('GET', `/api/v1/namespaces/${TENANT}/serviceaccounts/default`).then(() => true), 30_000);

  // As the chart runs them: the controllers and the attestation service in processes of their own (here
  // two managers in this process), each as its own ServiceAccount, each leader-elected.
  const sandboxDir = join(dir, 'sandbox');
  const start = async (name: string, components: OperatorComponent[], serviceAccount: string) => {
    const kubeconfig = impersonatingKubeconfig(plane.kubeconfigPath, dir, serviceAccountUser(SYSTEM_NS, serviceAccount));
    const flags = {
      components, kubeconfig, config: join(dir, 'config.yaml'), leaderElect: true, leaseNamespace: SYSTEM_NS, metricsPort: await freePort(), attestationPort: await freePort(), qps: 100, burst: 200, sandboxDir,
      // The fleet's node attesters present tokens of this account (the chart names its attester DaemonSet's).
      attesterServiceAccount: FLEET_ATTESTER_SERVICE_ACCOUNT,
    };
    const manager = buildOperator(flags);
    const forbidden = recordForbidden(manager);
    const running = manager.run();
    started.push({ name, manager, forbidden, running });
    return { manager, flags };
  };
  await start('controllers', ['controllers'], `${RELEASE}-chrysalis-operator`);
  const { manager, flags } = await start('attestation service', ['attestation-service'], `${RELEASE}-chrysalis-attestation`);
  const service = await startAttestationService(manager, flags);
  server = service.server as Server;
  serviceUrl = `https://127.0.0.1:${flags.attestationPort}`;
  ca = service.tls.cert;
});

test.after.always(async () => {
  if (server) {
    const closed = new Promise<void>((r) => server!.close(() => r()));
    server.closeAllConnections?.();
    await closed;
  }
  for (const c of started) {
    await c.manager.stop();
    await c.running.catch(() => undefined);
  }
  admin?.close();
  await plane?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

type Cond = { type: string; status: string; reason?: string; message?: string };
const cond = (conditions: Cond[] | undefined, type: string) => conditions?.find((c) => c.type === type);

/** Every request any component had refused so far, named. */
function refused(): string[] {
  return started.flatMap((c) => c.forbidden.map((f) => `${c.name}: ${f}`));
}

/** Polls until fn gives a value; fails at once, naming the request, when any component was refused. */
async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, describe?: () => Promise<string>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const denied = refused();
    if (denied.length > 0) throw new Error(`waiting for ${what}, the apiserver refused:\n  ${denied.join('\n  ')}`);
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${describe ? `; last seen: ${await describe().catch(String)}` : ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

test.serial('with only the chart\'s RBAC, nodes attest, a pool is placed and attested, and its usage is settled on the sandbox chain, with no request refused', async (t) => {
  const fleet: Fleet = await createFleet(adminKc, { nodes: NODES, serviceUrl, ca, providers: 2, namePrefix: PREFIX, policyName: PREFIX, usageIntervalMs: 2000 });
  t.teardown(() => fleet.stop());

  // 1. ProviderNode attestation: challenge (controllers), evidence and verdict (attestation service),
  //    Node labels and taint (controllers).
  await until(`all ${NODES} ProviderNodes Attested=True`, async () => {
    const list = await admin.request<{ items: ProviderNode[] }>('GET', resourcePath(ProviderNodes), { query: { labelSelector: `${LABEL_FLEET}=${PREFIX}` } });
    return list.items.length === NODES && list.items.every((p) => cond(p.status?.conditions, 'Attested')?.status === 'True') ? true : undefined;
  }, 90_000);

  // 2. Placement and replica attestation, in a namespace the chart lists for settlement.
  await admin.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: TENANT } } }).catch((e) => { if (!isConflict(e)) throw e; });
  await admin.request('POST', resourcePath(SettlementAccounts, TENANT), { body: {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'SettlementAccount', metadata: { name: 'sandbox' },
    spec: { network: 'sandbox', pricePerUnitNanoton: '1000', commitPeriodSeconds: 10, pushThresholdUnits: '1000' },
  } });
  await admin.request('POST', resourcePath(InferencePools, TENANT), { body: {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool', metadata: { name: 'pool' },
    spec: {
      model: { name: 'demo/model', source: 'pvc://models/model', hash: 'ab330bc0c4fe85bd289fbb0a47a11a5f1346f456bc4615e02f081dfb973f5ad6' },
      runtime: { image: 'docker.io/vllm/vllm-openai@sha256:0f5e2a3c1d4b6e8f7a9c0b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f', port: 8000 },
      replicas: { min: REPLICAS, max: REPLICAS }, gpusPerReplica: 2, gpuModels: ['H100'],
      tee: { types: ['simulated'] }, maxPriceCoefficient: 1500, settlementAccountRef: { name: 'sandbox' },
    },
  } });
  const describePool = async () => JSON.stringify((await admin.request<InferencePool>('GET', resourcePath(InferencePools, TENANT, 'pool'))).status);
  await until('the pool Ready with every replica placed and attested', async () => {
    const pool = await admin.request<InferencePool>('GET', resourcePath(InferencePools, TENANT, 'pool'));
    const r = pool.status?.replicas;
    return cond(pool.status?.conditions, 'Ready')?.status === 'True' && r?.placed === REPLICAS && r.attested === REPLICAS ? pool : undefined;
  }, 90_000, describePool);

  // 3. Metering and settlement: a commit confirmed on the sandbox chain, its leaves stored.
  const describeAccount = async () => JSON.stringify((await admin.request<SettlementAccount>('GET', resourcePath(SettlementAccounts, TENANT, 'sandbox'))).status);
  const account = await until('a settlement confirmed on the sandbox chain', async () => {
    const a = await admin.request<SettlementAccount>('GET', resourcePath(SettlementAccounts, TENANT, 'sandbox'));
    const s = a.status as { totals?: { committed?: string }; lastConfirmed?: { epoch?: number | string } } | undefined;
    return Number(s?.lastConfirmed?.epoch ?? 0) >= 1 && BigInt(s?.totals?.committed ?? '0') > 0n ? a : undefined;
  }, 120_000, describeAccount);
  t.truthy(account.status, 'the account has a status written by the settlement controller');
  const leaves = await admin.request<{ items: unknown[] }>('GET', `/api/v1/namespaces/${TENANT}/configmaps`, { query: { labelSelector: `${LABEL_SETTLEMENT_ACCOUNT}=sandbox` } });
  t.true(leaves.items.length >= 1, 'the epoch\'s leaves are stored in a ConfigMap in the account\'s namespace');
  const key = await admin.request<{ metadata: { name: string } }>('GET', `/api/v1/namespaces/${TENANT}/secrets/${operatorKeySecretName('sandbox')}`);
  t.is(key.metadata.name, operatorKeySecretName('sandbox'), 'the sandbox signing key Secret was created');
  const replicas = await admin.request<{ items: V1Pod[] }>('GET', `/api/v1/namespaces/${TENANT}/pods`);
  t.is(replicas.items.length, REPLICAS);

  // 4. Scale down: the controllers delete a replica Pod.
  await admin.request('PATCH', resourcePath(InferencePools, TENANT, 'pool'), { contentType: 'application/merge-patch+json', body: { spec: { replicas: { min: 1, max: 1 } } } });
  await until('one replica left after scaling down', async () => {
    const pods = await admin.request<{ items: V1Pod[] }>('GET', `/api/v1/namespaces/${TENANT}/pods`);
    return pods.items.length === 1 ? true : undefined;
  }, 60_000, describePool);

  // 5. The default policy the chart configures, created by the controllers as their own ServiceAccount.
  const policy = await until('the default AttestationPolicy created', () => admin.request<AttestationPolicy>('GET', resourcePath(AttestationPolicies, undefined, 'default')), 30_000);
  t.like(policy.spec, defaultPolicySpec!);
  t.deepEqual([...new Set(policy.metadata?.managedFields?.map((f) => f.manager))], ['chrysalis-operator'], 'created by the controllers (and its status written by them since)');

  t.deepEqual(refused(), [], 'no request of any component was refused');
  for (const c of started) t.is(await forbiddenRequestCount(c.manager), 0, `${c.name}: no request or watch answered 403`);
});
