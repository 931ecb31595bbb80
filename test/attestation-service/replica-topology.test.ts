// Replica evidence by the host's topology (ProviderNode spec.topology), through the service with the
// project's verifier and simulated SEV-SNP evidence, against the real apiserver:
//  - node-cvm: a replica runs in the node's own guest, so its report must show the node's chip and launch
//    measurement as the node's last verified evidence recorded them; evidence of another guest image or
//    another chip is REPLICA_HOST_MISMATCH even where the policy alone would pass it;
//  - pod-cvm: a replica is its own VM, checked against the policy's replicaMeasurements, and the node
//    against allowedMeasurements: a measurement on one list never passes for the other, and a policy
//    with no replica list admits no pod-cvm replica.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import type { V1Pod } from '@kubernetes/client-node';
import { gpuNonceFor } from '../../operator/src/attestation/freshness.js';
import { verifyWithPolicy } from '../../operator/src/attestation/service/bundle-verifier.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import { sha384 } from '../../operator/src/attestation/bytes.js';
import { ATTESTER_SA, boundToken, getProviderNode, nodeSetup, podOn, podToken, post, service, until, type NodeSetup } from './_cluster.js';

const chipA = SimulatedTee.create({ gpus: 1 });
const chipB = SimulatedTee.create({ gpus: 1 });
const image = (label: string) => sha384(new Uint8Array(Buffer.from(label)));
const NODE_IMAGE = image('node guest image');
const OTHER_IMAGE = image('another guest image');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

type Subject = { kind: 'node'; nodeName: string } | { kind: 'replica'; namespace: string; pod: string };

function evidence(tee: SimulatedTee, subject: Subject, nonceHex: string, measurement: Uint8Array, gpus: boolean) {
  const nonce = Buffer.from(nonceHex, 'hex');
  const key = new Uint8Array(randomBytes(32));
  const cpu = tee.snpReport({ nonce, publicKey: key, measurement });
  return {
    subject, nonce: nonceHex, publicKey: hex(key),
    cpu: { type: 'simulated', report: b64(cpu.report), vcek: b64(cpu.vcek), chain: cpu.chainPem },
    gpus: gpus ? tee.gpuReports({ nonce: gpuNonceFor(nonce, key) }).map((g, index) => ({ index, report: b64(g.evidence), certChain: g.chainPem })) : [],
  };
}

/** Both simulated chips' roots, so the policy alone would pass either chip. */
const roots = { trustedRoots: [chipA.rootPem, chipB.rootPem], allowSimulated: true };

async function nodeAnswer(s: NodeSetup, tee: SimulatedTee, measurement: Uint8Array, gpus: boolean, nonce = s.nonce) {
  const token = await boundToken(s.rest, s.attesterNs, ATTESTER_SA, { kind: 'Node', name: s.node, uid: s.nodeUid });
  const r = await post(service(s, verifyWithPolicy), '/v1/evidence', token, evidence(tee, { kind: 'node', nodeName: s.node }, nonce, measurement, gpus));
  if (r.status !== 200) throw new Error(`node evidence: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as { verified: boolean; reasons: Array<{ code: string; message: string }> };
}

async function replicaAnswer(s: NodeSetup, pod: V1Pod, tee: SimulatedTee, measurement: Uint8Array) {
  const svc = service(s, verifyWithPolicy);
  const token = await podToken(s.rest, pod);
  const subject = { kind: 'replica' as const, namespace: pod.metadata!.namespace!, pod: pod.metadata!.name! };
  const challenge = await until('a replica challenge', async () => {
    const c = await post(svc, '/v1/challenge', token, { subject });
    return c.status === 503 ? undefined : c;
  });
  if (challenge.status !== 200) throw new Error(`challenge: ${challenge.status} ${JSON.stringify(challenge.body)}`);
  const r = await post(svc, '/v1/evidence', token, evidence(tee, subject, (challenge.body as { nonce: string }).nonce, measurement, false));
  if (r.status !== 200) throw new Error(`replica evidence: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as { verified: boolean; reasons: Array<{ code: string; message: string }> };
}

const codes = (r: { reasons: Array<{ code: string }> }) => [...new Set(r.reasons.map((x) => x.code))];

test('node-cvm: a replica passes only with its node\'s chip and launch measurement', async (t) => {
  const s = await nodeSetup(t, { topology: 'node-cvm', policySpec: { ...roots, allowedMeasurements: [hex(NODE_IMAGE), hex(OTHER_IMAGE)] } });
  const node = await nodeAnswer(s, chipA, NODE_IMAGE, true);
  t.deepEqual(node.reasons, []);
  const recorded = (await getProviderNode(s.rest, s.node)).status?.attestation;
  t.is(recorded?.measurement, hex(NODE_IMAGE));
  t.truthy(recorded?.chipId);

  const sameGuest = await replicaAnswer(s, await podOn(s.rest, s.tenantNs, 'llm-0', s.node, { replicaOf: 'llm' }), chipA, NODE_IMAGE);
  t.deepEqual(sameGuest.reasons, []);
  t.true(sameGuest.verified);

  // Another VM on the same chip: the policy allows its image, but it is not the node's guest.
  const otherGuest = await replicaAnswer(s, await podOn(s.rest, s.tenantNs, 'llm-1', s.node, { replicaOf: 'llm' }), chipA, OTHER_IMAGE);
  t.false(otherGuest.verified);
  t.deepEqual(codes(otherGuest), ['REPLICA_HOST_MISMATCH']);
  t.regex(otherGuest.reasons.map((r) => r.message).join(' '), /image hash .* is not the node's/);

  // The node's image on another machine: not the node's chip.
  const otherChip = await replicaAnswer(s, await podOn(s.rest, s.tenantNs, 'llm-2', s.node, { replicaOf: 'llm' }), chipB, NODE_IMAGE);
  t.false(otherChip.verified);
  t.deepEqual(codes(otherChip), ['REPLICA_HOST_MISMATCH']);
  t.regex(otherChip.reasons[0]!.message, /comes from chip .*, not from node .*'s chip/);

  const gate = await s.rest.request<V1Pod>('GET', `/api/v1/namespaces/${s.tenantNs}/pods/llm-2`);
  t.is(gate.status?.conditions?.find((c) => c.type === 'chrysalis.dev/attested')?.reason, 'ReplicaHostMismatch');
});

test('pod-cvm: node and replica measurements are separate allow lists, and the replica must be on the node\'s chip', async (t) => {
  const REPLICA_IMAGE = image('kata pod guest image');
  const s = await nodeSetup(t, { topology: 'pod-cvm', policySpec: { ...roots, allowedMeasurements: [hex(NODE_IMAGE)], replicaMeasurements: [hex(REPLICA_IMAGE)] } });
  // The node's own VM with a replica image: not on the node list (a rejected answer leaves the nonce pending).
  const wrongNode = await nodeAnswer(s, chipA, REPLICA_IMAGE, false);
  t.deepEqual(codes(wrongNode), ['MEASUREMENT_NOT_ALLOWED']);
  // A pod-cvm node's VM holds no GPU: its evidence proves the TEE alone.
  const node = await nodeAnswer(s, chipA, NODE_IMAGE, false);
  t.deepEqual(node.reasons, []);

  const replica = await replicaAnswer(s, await podOn(s.rest, s.tenantNs, 'llm-0', s.node, { replicaOf: 'llm' }), chipA, REPLICA_IMAGE);
  t.deepEqual(replica.reasons, []);
  t.true(replica.verified);
  const nodeImageAsReplica = await replicaAnswer(s, await podOn(s.rest, s.tenantNs, 'llm-1', s.node, { replicaOf: 'llm' }), chipA, NODE_IMAGE);
  t.deepEqual(codes(nodeImageAsReplica), ['MEASUREMENT_NOT_ALLOWED']);
  const otherChip = await replicaAnswer(s, await podOn(s.rest, s.tenantNs, 'llm-2', s.node, { replicaOf: 'llm' }), chipB, REPLICA_IMAGE);
  t.deepEqual(codes(otherChip), ['REPLICA_HOST_MISMATCH']);
});

test('pod-cvm: a policy without replicaMeasurements or replicaImageHashes admits no replica', async (t) => {
  const s = await nodeSetup(t, { topology: 'pod-cvm', policySpec: { ...roots } });
  t.deepEqual((await nodeAnswer(s, chipA, NODE_IMAGE, false)).reasons, []);
  const replica = await replicaAnswer(s, await podOn(s.rest, s.tenantNs, 'llm-0', s.node, { replicaOf: 'llm' }), chipA, NODE_IMAGE);
  t.false(replica.verified);
  t.deepEqual(codes(replica), ['MEASUREMENT_NOT_ALLOWED']);
  t.regex(replica.reasons[0]!.message, /no replicaMeasurements or replicaImageHashes/);
});
