// The replica is not Ready until its inference server serves: kubelet cannot reach the server (it listens
// on 127.0.0.1 only), so the readiness probe asks the sidecar's plain-HTTP health port for /health, which
// asks the server on loopback (503 until the server answers 200). Not the RA-TLS port: kubelet's Go TLS
// client cannot parse the RA-TLS certificate (test/realnode/inference-e2e.test.ts showed the probe
// failing "x509: malformed extension OID field"). Custom servers get no probe.
import test from 'ava';
import { DEFAULT_CONFIG } from '../../operator/src/config.js';
import { ATTESTER_CONTAINER, buildReplicaPod, SERVER_CONTAINER } from '../../operator/src/controllers/inferencepool/pod-builder.js';
import { REPLICA_HTTPS_PORT_NAME } from '../../operator/src/controllers/inferencepool/endpoint.js';
import { REPLICA_HEALTH_PORT, REPLICA_HEALTH_PORT_NAME } from '../../operator/src/controllers/inferencepool/pod-builder.js';
import { pool, poolSpec } from './builders.js';

type Server = 'vllm' | 'llama-cpp' | 'custom' | undefined;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const containers = (server: Server): any[] => {
  const runtime = { ...poolSpec(1).runtime, ...(server ? { server } : {}) };
  const spec = server === 'llama-cpp' ? { runtime, model: { ...poolSpec(1).model, file: 'model.gguf' } } : { runtime };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return (buildReplicaPod({ pool: pool('llama', 1, spec), index: 0, tee: 'sev-snp', topology: 'node-cvm', config: DEFAULT_CONFIG }) as any).spec.containers;
};

test('vllm (the default) and llama-cpp replicas are Ready only once the server answers /health through the sidecar', (t) => {
  for (const server of [undefined, 'vllm', 'llama-cpp'] as const) {
    const [srv, attester] = [SERVER_CONTAINER, ATTESTER_CONTAINER].map((n) => containers(server).find((c) => c.name === n));
    t.like(attester.readinessProbe, { httpGet: { scheme: 'HTTP', port: REPLICA_HEALTH_PORT_NAME, path: '/health' } }, String(server));
    t.not(attester.readinessProbe.httpGet.port, REPLICA_HTTPS_PORT_NAME, 'not the RA-TLS port: kubelet cannot parse its certificate');
    const port = attester.ports.find((p: { name: string }) => p.name === attester.readinessProbe.httpGet.port);
    t.is(port?.containerPort, REPLICA_HEALTH_PORT, 'the probe names the sidecar\'s own port');
    const args: string[] = attester.args;
    t.is(args[args.indexOf('--health-port') + 1], String(REPLICA_HEALTH_PORT), 'the sidecar serves that port');
    t.is(srv.readinessProbe, undefined, 'kubelet cannot reach the server on loopback');
  }
});

test('a custom server has no known health path and gets no readiness probe', (t) => {
  t.true(containers('custom').every((c) => c.readinessProbe === undefined));
  const attester = containers('custom').find((c) => c.name === ATTESTER_CONTAINER);
  t.false(attester.args.includes('--health-port'));
});
