// The replica Pod's RA-TLS endpoint: the attester sidecar serves it on the container port named https
// (the pool Service's target port) and forwards to the inference server's port on loopback.
import test from 'ava';
import { DEFAULT_CONFIG } from '../../operator/src/config.js';
import { REPLICA_HTTPS_PORT, REPLICA_HTTPS_PORT_NAME } from '../../operator/src/controllers/inferencepool/endpoint.js';
import { ATTESTER_CONTAINER, buildReplicaPod } from '../../operator/src/controllers/inferencepool/pod-builder.js';
import { pool } from './builders.js';

interface Container {
  name: string;
  args: string[];
  ports?: { name: string; containerPort: number; protocol: string }[];
}

const attesterOf = (runtimePort?: number): Container => {
  const p = pool('llama', 1);
  if (runtimePort !== undefined) p.spec.runtime = { ...p.spec.runtime, port: runtimePort };
  const pod = buildReplicaPod({ pool: p, index: 0, tee: 'simulated', config: DEFAULT_CONFIG }) as unknown as { spec: { containers: Container[] } };
  return pod.spec.containers.find((c) => c.name === ATTESTER_CONTAINER)!;
};

const flag = (c: Container, name: string): string | undefined => {
  const i = c.args.indexOf(name);
  return i < 0 ? undefined : c.args[i + 1];
};

test('the attester sidecar exposes the https port the pool Service targets and serves RA-TLS on it', (t) => {
  const attester = attesterOf();
  t.deepEqual(attester.ports?.find((p) => p.name === REPLICA_HTTPS_PORT_NAME), { name: REPLICA_HTTPS_PORT_NAME, containerPort: REPLICA_HTTPS_PORT, protocol: 'TCP' });
  t.is(flag(attester, '--https-port'), String(REPLICA_HTTPS_PORT));
});

test("the sidecar forwards to the inference server's spec.runtime.port (8000 when unset)", (t) => {
  t.is(flag(attesterOf(), '--upstream-port'), '8000');
  t.is(flag(attesterOf(9100), '--upstream-port'), '9100');
});
