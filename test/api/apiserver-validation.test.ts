// The API against a real kube-apiserver: the CRDs install and become Established, every sample applies
// (and comes back defaulted), and each validation rule rejects an object that breaks it with a 422 whose
// message names the offending field. The apiserver, not our code, does the rejecting: this is what
// `kubectl apply` users will see.
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiException, KubernetesObjectApi, PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { RESOURCES, type KindName } from '../../operator/src/api/index.js';
import { testCluster, useNamespace } from '../cluster/index.js';
import { CRD_DIR, TEST_FIELD_MANAGER, installCrds } from '../../dev/install-crds.js';
import { REPLICA_HTTPS_PORT } from '../../operator/src/controllers/inferencepool/endpoint.js';
import { REPLICA_HEALTH_PORT } from '../../operator/src/controllers/inferencepool/pod-builder.js';

const cluster = await testCluster();
const kc = cluster.kubeConfig();
const objects = KubernetesObjectApi.makeApiClient(kc);
// Cluster-scoped names get this suffix so reruns against an existing cluster never collide.
const run = randomBytes(3).toString('hex');

test.before('install the CRDs', async () => {
  await installCrds(kc);
});

type Obj = KubernetesObject & { spec: Record<string, any> };

function sample(kind: KindName): Obj {
  return parse(readFileSync(join(CRD_DIR, 'samples', `${kind.toLowerCase()}.yaml`), 'utf8')) as Obj;
}

/** The sample of `kind`, placed in `t`'s own namespace or given a unique cluster-wide name. */
async function placed(t: ExecutionContext, kind: KindName): Promise<Obj> {
  const obj = sample(kind);
  if (RESOURCES[kind].namespaced) obj.metadata!.namespace = await useNamespace(t, 'api');
  obj.metadata!.name = `${obj.metadata!.name}-${run}-${randomBytes(2).toString('hex')}`;
  return obj;
}

async function apply(obj: Obj, dryRun?: 'All'): Promise<Obj> {
  return objects.patch(obj, undefined, dryRun, TEST_FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
}

/** Creates for real, deleting at teardown (cluster-scoped objects outlive the test's namespace). */
async function create(t: ExecutionContext, obj: Obj): Promise<Obj> {
  const created = await apply(obj);
  t.teardown(() => objects.delete(obj).then(() => undefined, () => undefined));
  return created;
}

interface Rejection {
  code: number;
  message: string;
  fields: string[];
}

/** Runs `action`, which must fail, and returns the apiserver's Status for it. */
async function rejection(t: ExecutionContext, action: () => Promise<unknown>): Promise<Rejection> {
  try {
    await action();
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    const body = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
    return {
      code: err.code,
      message: String(body?.message ?? ''),
      fields: (body?.details?.causes ?? [])
        // When a schema error stops validation early the apiserver adds a note without a field that CEL
        // rules were skipped; it is not a second problem with the object.
        .filter((c: { message?: string }) => !c.message?.includes('some validation rules were not checked'))
        .map((c: { field?: string }) => c.field ?? ''),
    };
  }
  t.fail('the apiserver accepted the object');
  return { code: 0, message: '', fields: [] };
}

/** Fields the samples leave out that the apiserver fills in from the schema defaults. */
const DEFAULTED: Record<KindName, Record<string, unknown>> = {
  ProviderNode: { topology: 'node-cvm' },
  InferencePool: {},
  AttestationPolicy: { trustedRoots: [] },
  SettlementAccount: {},
};

for (const kind of Object.keys(RESOURCES) as KindName[]) {
  test(`the ${kind} sample applies and comes back with its defaults filled in`, async (t) => {
    const obj = await placed(t, kind);
    const live = await create(t, obj);
    t.is(live.kind, kind);
    t.deepEqual(live.spec, { ...DEFAULTED[kind], ...obj.spec });
  });
}

test('a minimal InferencePool gets the documented defaults', async (t) => {
  const obj = await placed(t, 'InferencePool');
  const { model, runtime, replicas, settlementAccountRef } = obj.spec;
  obj.spec = { model, runtime: { image: runtime.image }, replicas, settlementAccountRef };
  const live = await apply(obj, 'All');
  t.deepEqual(live.spec, {
    model, replicas, settlementAccountRef,
    runtime: { image: runtime.image, port: 8000, server: 'vllm' },
    gpusPerReplica: 1,
    tee: { types: ['sev-snp', 'tdx'], gpuCCRequired: true },
    placement: { spreadAcrossProviders: true },
  });
});

test('a minimal AttestationPolicy gets the strict defaults', async (t) => {
  const obj = await placed(t, 'AttestationPolicy');
  obj.spec = {};
  const live = await apply(obj, 'All');
  t.like(live.spec, {
    allowSimulated: false, debugAllowed: false, migrationAgentAllowed: false, trustedRoots: [],
    gpu: { ccModeRequired: true }, tdx: { collateralRequired: true },
    maxEvidenceAgeSeconds: 300, reattestIntervalSeconds: 3600, quarantineGraceSeconds: 300,
  });
});

const PEM = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n';
const RAW_ADDRESS = `0:${'ab'.repeat(32)}`;

interface InvalidCase {
  /** Completes "rejects ...". */
  title: string;
  kind: KindName;
  /** Turns the valid sample's spec into the invalid one. */
  mutate: (spec: Record<string, any>) => void;
  /**
   * For rules on changes (transition rules): the sample is first created with `before` applied, then
   * updated with `mutate` applied on top.
   */
  before?: (spec: Record<string, any>) => void;
  /** The field path the apiserver must name. */
  field: string;
  /** Words from the message that show which rule fired. */
  says: string;
}

const live = (network: 'testnet' | 'mainnet') => (s: Record<string, any>) => {
  s.network = network;
  delete s.sandbox;
  s.endpoint = 'https://testnet.toncenter.com/api/v2/jsonRPC';
  s.walletSecretRef = { name: 'operator-wallet' };
};

const INVALID: InvalidCase[] = [
  // ProviderNode
  { title: 'a payout address that is not a TON address', kind: 'ProviderNode',
    mutate: (s) => { s.payoutAddress = 'EQ-not-an-address'; }, field: 'spec.payoutAddress', says: 'must be a TON address' },
  { title: 'a raw payout address outside workchains 0 and -1', kind: 'ProviderNode',
    mutate: (s) => { s.payoutAddress = `5:${'ab'.repeat(32)}`; }, field: 'spec.payoutAddress', says: 'must be a TON address' },
  { title: 'ppcie mode on a single-GPU host', kind: 'ProviderNode',
    mutate: (s) => { s.gpus = { model: 'H100', count: 1, ccMode: 'ppcie' }; }, field: 'spec.gpus.ccMode', says: 'use ccMode on' },
  { title: 'an unknown TEE type', kind: 'ProviderNode',
    mutate: (s) => { s.tee = 'sgx'; }, field: 'spec.tee', says: 'Unsupported value' },
  { title: 'a price coefficient of zero', kind: 'ProviderNode',
    mutate: (s) => { s.priceCoefficient = 0; }, field: 'spec.priceCoefficient', says: 'greater than or equal to 1' },
  { title: 'moving a ProviderNode to another Node', kind: 'ProviderNode', before: () => {},
    mutate: (s) => { s.nodeName = 'another-node'; }, field: 'spec.nodeName', says: 'is immutable' },
  // InferencePool
  { title: 'min replicas above max replicas', kind: 'InferencePool',
    mutate: (s) => { s.replicas = { min: 5, max: 2 }; }, field: 'spec.replicas.min', says: 'less than or equal to spec.replicas.max' },
  { title: 'an image pinned only by tag', kind: 'InferencePool',
    mutate: (s) => { s.runtime.image = 'vllm/vllm-openai:v0.6.3'; }, field: 'spec.runtime.image', says: 'pinned by digest' },
  { title: 'a Hugging Face model source, which no model check can fetch yet', kind: 'InferencePool',
    mutate: (s) => { s.model.source = 'hf://meta-llama/Llama-3.1-8B-Instruct'; }, field: 'spec.model.source', says: 'pvc://<claim>[/<path>]' },
  { title: 'an OCI artifact as model source', kind: 'InferencePool',
    mutate: (s) => { s.model.source = 'oci://registry.example/models/llama@sha256:' + 'a'.repeat(64); }, field: 'spec.model.source', says: 'OCI artifacts, hf:// and s3:// are not supported yet' },
  { title: 'a model directory that climbs out of its claim', kind: 'InferencePool',
    mutate: (s) => { s.model.source = 'pvc://models/../etc'; }, field: 'spec.model.source', says: 'empty, . or .. segments' },
  { title: 'a model revision with a space', kind: 'InferencePool',
    mutate: (s) => { s.model.revision = 'main branch'; }, field: 'spec.model.revision', says: 'should match' },
  { title: 'a custom server without arguments', kind: 'InferencePool',
    mutate: (s) => { s.runtime.server = 'custom'; delete s.runtime.args; }, field: 'spec.runtime.args', says: 'when spec.runtime.server is custom' },
  { title: 'vLLM told to listen on every address', kind: 'InferencePool',
    mutate: (s) => { s.runtime.args = ['--host=0.0.0.0']; }, field: 'spec.runtime.args', says: 'may not set --host' },
  { title: 'the llama-cpp server without the model file it loads', kind: 'InferencePool',
    mutate: (s) => { s.runtime.server = 'llama-cpp'; s.runtime.args = []; }, field: 'spec.model.file', says: 'required when spec.runtime.server is llama-cpp' },
  { title: 'a model file outside the model', kind: 'InferencePool',
    mutate: (s) => { s.model.file = '../secrets/key.gguf'; }, field: 'spec.model.file', says: 'may not contain . or .. segments' },
  { title: 'a server port that is the sidecar\'s RA-TLS port', kind: 'InferencePool',
    mutate: (s) => { s.runtime.port = REPLICA_HTTPS_PORT; }, field: 'spec.runtime.port', says: 'the attester sidecar\'s RA-TLS and health ports' },
  { title: 'a server port that is the sidecar\'s health port', kind: 'InferencePool',
    mutate: (s) => { s.runtime.port = REPLICA_HEALTH_PORT; }, field: 'spec.runtime.port', says: 'the attester sidecar\'s RA-TLS and health ports' },
  { title: 'an unknown model server', kind: 'InferencePool',
    mutate: (s) => { s.runtime.server = 'tgi'; }, field: 'spec.runtime.server', says: 'Unsupported value' },
  { title: 'a model hash that is not 64 hex characters', kind: 'InferencePool',
    mutate: (s) => { s.model.hash = 'sha256:abc'; }, field: 'spec.model.hash', says: 'should match' },
  { title: 'simulated mixed with real TEE types', kind: 'InferencePool',
    mutate: (s) => { s.tee.types = ['simulated', 'sev-snp']; }, field: 'spec.tee.types', says: 'cannot mix simulated' },
  { title: 'an empty list of TEE types', kind: 'InferencePool',
    mutate: (s) => { s.tee.types = []; }, field: 'spec.tee.types', says: 'should have at least 1 items' },
  { title: 'a TEE type listed twice', kind: 'InferencePool',
    mutate: (s) => { s.tee.types = ['tdx', 'tdx']; }, field: 'spec.tee.types[1]', says: 'Duplicate value' },
  { title: 'GPU CC mode switched off for a confidential pool', kind: 'InferencePool',
    mutate: (s) => { s.tee.gpuCCRequired = false; }, field: 'spec.tee.gpuCCRequired', says: 'only when spec.tee.types is [simulated]' },
  { title: 'more than 8 GPUs per replica', kind: 'InferencePool',
    mutate: (s) => { s.gpusPerReplica = 9; }, field: 'spec.gpusPerReplica', says: 'less than or equal to 8' },
  { title: 'a maximum of zero replicas per node', kind: 'InferencePool',
    mutate: (s) => { s.placement.maxPerNode = 0; }, field: 'spec.placement.maxPerNode', says: 'greater than or equal to 1' },
  { title: 'a rollout that could never replace a replica (maxSurge and maxUnavailable both 0)', kind: 'InferencePool',
    mutate: (s) => { s.rollout = { maxSurge: 0, maxUnavailable: 0 }; }, field: 'spec.rollout', says: 'cannot both be 0' },
  // AttestationPolicy
  { title: 'allowSimulated without a trusted root', kind: 'AttestationPolicy',
    mutate: (s) => { s.allowSimulated = true; }, field: 'spec.trustedRoots', says: 'must list the simulated TEE' },
  { title: 'extra trusted roots without allowSimulated', kind: 'AttestationPolicy',
    mutate: (s) => { s.trustedRoots = [PEM]; }, field: 'spec.trustedRoots', says: 'only for simulated evidence' },
  { title: 'a trusted root that is not a PEM certificate', kind: 'AttestationPolicy',
    mutate: (s) => { s.allowSimulated = true; s.trustedRoots = ['MIIBszCCAVmgAwIBAgIU']; }, field: 'spec.trustedRoots[0]', says: 'one PEM certificate' },
  { title: 'debugging allowed in a hardware policy', kind: 'AttestationPolicy',
    mutate: (s) => { s.debugAllowed = true; }, field: 'spec.debugAllowed', says: 'only in a test policy' },
  { title: 'a re-attestation interval no longer than the evidence max age', kind: 'AttestationPolicy',
    mutate: (s) => { s.maxEvidenceAgeSeconds = 600; s.reattestIntervalSeconds = 600; s.quarantineGraceSeconds = 60; },
    field: 'spec.reattestIntervalSeconds', says: 'greater than spec.maxEvidenceAgeSeconds' },
  { title: 'a quarantine grace as long as the re-attestation interval', kind: 'AttestationPolicy',
    mutate: (s) => { s.quarantineGraceSeconds = 3600; }, field: 'spec.quarantineGraceSeconds', says: 'less than spec.reattestIntervalSeconds' },
  { title: 'accepted TDX TCB statuses without UpToDate', kind: 'AttestationPolicy',
    mutate: (s) => { s.tdx.acceptedTcbStatuses = ['SWHardeningNeeded']; }, field: 'spec.tdx.acceptedTcbStatuses', says: 'must include UpToDate' },
  { title: 'a VMPL above 3', kind: 'AttestationPolicy',
    mutate: (s) => { s.allowedVmpls = [4]; }, field: 'spec.allowedVmpls[0]', says: 'less than or equal to 3' },
  { title: 'a measurement that is not 96 hex characters', kind: 'AttestationPolicy',
    mutate: (s) => { s.allowedMeasurements = ['ab'.repeat(32)]; }, field: 'spec.allowedMeasurements[0]', says: 'should match' },
  // SettlementAccount
  { title: 'a testnet account without an endpoint', kind: 'SettlementAccount',
    mutate: (s) => { live('testnet')(s); delete s.endpoint; }, field: 'spec.endpoint', says: 'is required when spec.network is testnet or mainnet' },
  { title: 'a sandbox account with an endpoint', kind: 'SettlementAccount',
    mutate: (s) => { s.endpoint = 'https://toncenter.com/api/v2/jsonRPC'; }, field: 'spec.endpoint', says: 'must be omitted when spec.network is sandbox' },
  { title: 'a testnet account without a wallet Secret', kind: 'SettlementAccount',
    mutate: (s) => { live('testnet')(s); delete s.walletSecretRef; }, field: 'spec.walletSecretRef', says: 'Secret holding the wallet mnemonic' },
  { title: 'sandbox settings on a testnet account', kind: 'SettlementAccount',
    mutate: (s) => { live('testnet')(s); s.sandbox = { stateDir: 'chain' }; }, field: 'spec.sandbox', says: 'only when spec.network is sandbox' },
  { title: 'an absolute sandbox stateDir', kind: 'SettlementAccount',
    mutate: (s) => { s.sandbox = { stateDir: '/var/lib/kubelet' }; }, field: 'spec.sandbox.stateDir', says: 'must be a relative path' },
  { title: 'a sandbox stateDir climbing out with ..', kind: 'SettlementAccount',
    mutate: (s) => { s.sandbox = { stateDir: 'chain/../../other-namespace' }; }, field: 'spec.sandbox.stateDir', says: "must not contain '.' or '..' segments" },
  { title: 'a mainnet endpoint over plain http', kind: 'SettlementAccount',
    mutate: (s) => { live('mainnet')(s); s.endpoint = 'http://toncenter.com/api/v2/jsonRPC'; }, field: 'spec.endpoint', says: 'must use https://' },
  { title: 'a commission without a fee address', kind: 'SettlementAccount',
    mutate: (s) => { delete s.feeAddress; }, field: 'spec.feeAddress', says: 'commission is paid there' },
  { title: 'a commission above 100%', kind: 'SettlementAccount',
    mutate: (s) => { s.commissionBasisPoints = 10001; }, field: 'spec.commissionBasisPoints', says: 'less than or equal to 10000' },
  { title: 'a fee address that is not a TON address', kind: 'SettlementAccount',
    mutate: (s) => { s.feeAddress = '0:abc'; }, field: 'spec.feeAddress', says: 'must be a TON address' },
  { title: 'a price that is not a whole number of nanoton', kind: 'SettlementAccount',
    mutate: (s) => { s.pricePerUnitNanoton = '1.5'; }, field: 'spec.pricePerUnitNanoton', says: 'should match' },
  { title: 'a commit period under 10 seconds', kind: 'SettlementAccount',
    mutate: (s) => { s.commitPeriodSeconds = 5; }, field: 'spec.commitPeriodSeconds', says: 'greater than or equal to 10' },
  { title: 'switching an account to another network', kind: 'SettlementAccount', before: () => {},
    mutate: (s) => { live('testnet')(s); }, field: 'spec.network', says: 'is immutable' },
  { title: 'changing the contract address once set', kind: 'SettlementAccount',
    before: (s) => { s.contractAddress = RAW_ADDRESS; },
    mutate: (s) => { s.contractAddress = `-1:${'cd'.repeat(32)}`; }, field: 'spec.contractAddress', says: 'cannot be changed or removed once set' },
];

for (const c of INVALID) {
  test(`the apiserver rejects ${c.title}, naming ${c.field}`, async (t) => {
    const obj = await placed(t, c.kind);
    if (c.before) {
      c.before(obj.spec);
      await create(t, obj);
    }
    c.mutate(obj.spec);
    // Dry run: every validation stage runs, nothing is stored even if a rule wrongly lets it through.
    // New objects go through a plain create (what `kubectl create` and client-side apply send): server-side
    // apply answers a duplicate in a set-typed list with a 500 from its merge step before validation runs.
    const rejected = await rejection(t, () => (c.before ? apply(obj, 'All') : objects.create(obj, undefined, 'All')));
    t.is(rejected.code, 422, rejected.message);
    t.true(rejected.message.includes(`${c.field}:`), rejected.message);
    t.true(rejected.message.includes(c.says), rejected.message);
    // Exactly one problem: the case tests its own rule, not a side effect of the edit.
    t.deepEqual(rejected.fields, [c.field], rejected.message);
  });
}

test('the table covers at least 15 rules, each case once', (t) => {
  t.true(INVALID.length >= 15);
  t.is(new Set(INVALID.map((c) => c.title)).size, INVALID.length);
});
