// The operator's config names the attestation CA file (attestationCaFile), and both Deployments that
// read that config have it there, from the attestation TLS Secret's ca.crt: the controllers' Pods
// only that item (never the key), since they hand it to replica sidecars for --ca. A config naming a
// file a Deployment does not mount would stop that Deployment at start.
import test from 'ava';
import { parseOperatorConfig } from '../../operator/src/config.js';
import { one, render, type K8sObject } from './helm.js';

interface Spec {
  containers: { volumeMounts?: { name: string; mountPath: string; subPath?: string }[] }[];
  volumes?: { name: string; secret?: { secretName: string; items?: { key: string; path: string }[] } }[];
}
const specOf = (o: K8sObject) => (o.spec as { template: { spec: Spec } }).template.spec;

/** The Secret items a Deployment has at `file`. */
function mountedAt(deployment: K8sObject, file: string): { secretName: string; items: { key: string; path: string }[] } | undefined {
  const spec = specOf(deployment);
  for (const mount of spec.containers[0]!.volumeMounts ?? []) {
    if (!file.startsWith(`${mount.mountPath}/`)) continue;
    const secret = spec.volumes?.find((v) => v.name === mount.name)?.secret;
    if (secret?.items?.some((i) => `${mount.mountPath}/${i.path}` === file)) return { secretName: secret.secretName, items: secret.items };
  }
  return undefined;
}

test('attestationCaFile is the TLS Secret\'s ca.crt in the controllers\' and the attestation service\'s Pods; the controllers get no key', async (t) => {
  const objects = await render();
  const cm = one(objects, 'ConfigMap', (o) => o.metadata.name.endsWith('-operator'));
  const config = parseOperatorConfig((cm.data as Record<string, string>)['config.yaml']!, 'rendered config');
  t.is(config.attestationCaFile, '/etc/chrysalis/attestation-ca/ca.crt');
  const controllers = one(objects, 'Deployment', (o) => o.metadata.name === 'chry-chrysalis-operator');
  const service = one(objects, 'Deployment', (o) => o.metadata.name === 'chry-chrysalis-attestation');
  const tlsSecret = 'chry-chrysalis-attestation-tls';
  const fromControllers = mountedAt(controllers, config.attestationCaFile!);
  t.is(fromControllers?.secretName, tlsSecret);
  t.deepEqual(fromControllers?.items, [{ key: 'ca.crt', path: 'ca.crt' }]);
  t.deepEqual(mountedAt(service, config.attestationCaFile!), fromControllers);
});
