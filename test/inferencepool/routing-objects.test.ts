// What the pool's routing objects look like: its Service, the Gateway API Inference Extension
// InferencePool, whether an installed CRD counts, and the operator configuration that shapes them.
import test from 'ava';
import { ConfigError, DEFAULT_CONFIG, parseOperatorConfig } from '../../operator/src/config.js';
import {
  buildPoolService, ownedByPool, poolEndpoint, REPLICA_HTTPS_PORT, REPLICA_HTTPS_PORT_NAME, serviceNameProblem,
} from '../../operator/src/controllers/inferencepool/endpoint.js';
import {
  buildGatewayInferencePool, crdServesV1, DEFAULT_GATEWAY_INFERENCE_EXTENSION, GIE_CRD_NAME, slimCrd,
} from '../../operator/src/controllers/inferencepool/gateway-inference-pool.js';
import { buildReplicaPod } from '../../operator/src/controllers/inferencepool/pod-builder.js';
import type { KubeObject } from '../../operator/src/kube/resource.js';
import { LABEL_POOL, LABEL_REPLICA_ATTESTED } from '../../operator/src/marks.js';
import { pool } from './builders.js';

test('the Service is named after the pool, owned by it, and selects only its attested replicas on the https port by name', (t) => {
  const svc = buildPoolService(pool('llama', 2)) as KubeObject & { spec: Record<string, unknown> };
  t.like(svc.metadata, { name: 'llama', namespace: 'team' });
  t.deepEqual(svc.metadata?.ownerReferences, [{ apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool', name: 'llama', uid: 'uid-llama', controller: true, blockOwnerDeletion: true }]);
  t.deepEqual(svc.spec.selector, { [LABEL_POOL]: 'llama', [LABEL_REPLICA_ATTESTED]: 'true' });
  t.deepEqual(svc.spec.ports, [{ name: 'https', protocol: 'TCP', port: 443, targetPort: 'https', appProtocol: 'https' }]);
  t.is(svc.spec.type, 'ClusterIP');
  t.is(svc.spec.publishNotReadyAddresses, undefined, 'not-ready replicas stay out');
});

test('the endpoint the status reports is the Service\'s in-cluster https address', (t) => {
  t.deepEqual(poolEndpoint(pool('llama', 1)), { service: 'llama', url: 'https://llama.team.svc' });
  t.deepEqual(poolEndpoint(pool('llama', 1), 'llama'), { service: 'llama', url: 'https://llama.team.svc', gatewayInferencePool: 'llama' });
});

test('a pool name that cannot name a Service is refused with the rule and the fix', (t) => {
  t.is(serviceNameProblem(pool('llama', 1)), undefined);
  t.regex(serviceNameProblem(pool('7b', 1)) ?? '', /cannot name its Service.*starts with a lowercase letter.*create the pool under such a name/);
  t.regex(serviceNameProblem(pool('llama.v2', 1)) ?? '', /"llama\.v2"/);
});

test('only an object controlled by this pool (its uid) is the pool\'s', (t) => {
  const p = pool('llama', 1);
  t.true(ownedByPool(buildPoolService(p), p));
  t.false(ownedByPool({ metadata: { ownerReferences: [{ apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool', name: 'llama', uid: 'another', controller: true }] } }, p));
  t.false(ownedByPool({ metadata: { ownerReferences: [{ apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool', name: 'llama', uid: 'uid-llama', controller: false }] } }, p));
  t.false(ownedByPool({ metadata: {} }, p));
  t.false(ownedByPool(undefined, p));
});

test('the Gateway API InferencePool has the Service\'s selector, the RA-TLS port and the configured endpoint picker', (t) => {
  const gie = buildGatewayInferencePool(pool('llama', 2), DEFAULT_GATEWAY_INFERENCE_EXTENSION) as KubeObject & { spec: Record<string, unknown> };
  t.is(gie.apiVersion, 'inference.networking.k8s.io/v1');
  t.is(gie.kind, 'InferencePool');
  t.like(gie.metadata, { name: 'llama', namespace: 'team' });
  t.is(gie.metadata?.ownerReferences?.[0]?.uid, 'uid-llama');
  t.deepEqual(gie.spec.selector, { matchLabels: { [LABEL_POOL]: 'llama', [LABEL_REPLICA_ATTESTED]: 'true' } });
  t.deepEqual(gie.spec.targetPorts, [{ number: REPLICA_HTTPS_PORT }]);
  t.deepEqual(gie.spec.endpointPickerRef, { kind: 'Service', name: 'llama-epp', port: { number: 9002 }, failureMode: 'FailClose' });
  const custom = buildGatewayInferencePool(pool('llama', 2), { enabled: true, endpointPicker: { serviceSuffix: '-picker', port: 9100, failureMode: 'FailOpen' } }) as KubeObject & { spec: Record<string, unknown> };
  t.deepEqual(custom.spec.endpointPickerRef, { kind: 'Service', name: 'llama-picker', port: { number: 9100 }, failureMode: 'FailOpen' });
});

test('the replica Pod\'s https port, once it declares one, is the port the routing objects target', (t) => {
  const pod = buildReplicaPod({ pool: pool('llama', 1), index: 0, tee: 'sev-snp', config: DEFAULT_CONFIG });
  const ports = ((pod.spec as { containers: Array<{ ports?: Array<{ name?: string; containerPort: number }> }> }).containers)
    .flatMap((c) => c.ports ?? []).filter((port) => port.name === REPLICA_HTTPS_PORT_NAME);
  // The RA-TLS terminator's port is added to the attester sidecar by the pod builder; it must be this one.
  for (const port of ports) t.is(port.containerPort, REPLICA_HTTPS_PORT);
  t.true(ports.length <= 1, 'one https port');
});

const crd = (overrides: { served?: boolean; established?: string; name?: string; deleting?: boolean } = {}): KubeObject => ({
  apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition',
  metadata: { name: overrides.name ?? GIE_CRD_NAME, ...(overrides.deleting ? { deletionTimestamp: '2025-01-01T00:00:00Z' } : {}), managedFields: [{ manager: 'kubectl' }] },
  spec: { group: 'inference.networking.k8s.io', versions: [{ name: 'v1', served: overrides.served ?? true, storage: true, schema: { openAPIV3Schema: { type: 'object' } } }] },
  status: { conditions: [{ type: 'Established', status: overrides.established ?? 'True' }, { type: 'NamesAccepted', status: 'True' }], acceptedNames: { kind: 'InferencePool' } },
} as KubeObject);

test('an installed CRD counts only when it is Established and serves v1', (t) => {
  t.true(crdServesV1(crd()));
  t.false(crdServesV1(undefined), 'absent');
  t.false(crdServesV1(crd({ served: false })), 'v1 not served');
  t.false(crdServesV1(crd({ established: 'False' })), 'not established yet');
  t.false(crdServesV1(crd({ deleting: true })), 'being removed');
  t.false(crdServesV1(crd({ name: 'inferencepools.inference.networking.x-k8s.io' })), 'the alpha group');
});

test('the cached CRD keeps what the check reads and drops its schema', (t) => {
  const slim = slimCrd(crd());
  t.true(crdServesV1(slim));
  t.deepEqual(slim.spec, { group: 'inference.networking.k8s.io', versions: [{ name: 'v1', served: true }] });
  t.is(slim.metadata?.managedFields, undefined);
});

test('the operator configuration takes gatewayInferenceExtension and refuses bad values naming the field', (t) => {
  t.deepEqual(DEFAULT_CONFIG.gatewayInferenceExtension, { enabled: true, endpointPicker: { serviceSuffix: '-epp', port: 9002, failureMode: 'FailClose' } });
  const config = parseOperatorConfig('gatewayInferenceExtension:\n  enabled: false\n  endpointPicker:\n    port: 9100\n');
  t.deepEqual(config.gatewayInferenceExtension, { enabled: false, endpointPicker: { serviceSuffix: '-epp', port: 9100, failureMode: 'FailClose' } });
  const bad: Array<[string, RegExp]> = [
    ['gatewayInferenceExtension:\n  enabled: yes-please\n', /gatewayInferenceExtension\.enabled must be true or false/],
    ['gatewayInferenceExtension:\n  endpointPicker:\n    port: 0\n', /endpointPicker\.port must be a port number/],
    ['gatewayInferenceExtension:\n  endpointPicker:\n    failureMode: Open\n', /failureMode must be FailClose or FailOpen/],
    ['gatewayInferenceExtension:\n  endpointPicker:\n    serviceSuffix: _EPP\n', /serviceSuffix must be/],
    ['gatewayInferenceExtension:\n  picker: {}\n', /unknown key "picker"/],
  ];
  for (const [yaml, message] of bad) t.throws(() => parseOperatorConfig(yaml), { instanceOf: ConfigError, message });
});
