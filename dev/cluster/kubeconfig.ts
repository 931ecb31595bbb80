// Writes a kubeconfig with embedded certificates, so the file alone is enough to reach the cluster.
import { readFile, writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import type { ClientCert } from './pki.js';

export async function writeKubeconfig(path: string, server: string, caCert: string, user: string, client: ClientCert): Promise<void> {
  const b64 = async (file: string) => (await readFile(file)).toString('base64');
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'chrysalis-local', cluster: { server, 'certificate-authority-data': await b64(caCert) } }],
    users: [{ name: user, user: { 'client-certificate-data': await b64(client.cert), 'client-key-data': await b64(client.key) } }],
    contexts: [{ name: 'chrysalis-local', context: { cluster: 'chrysalis-local', user } }],
    'current-context': 'chrysalis-local',
  };
  await writeFile(path, stringify(config), { mode: 0o600 });
}
