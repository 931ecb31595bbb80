// The control plane's certificates, made with the openssl CLI: one CA signs the apiserver's serving
// certificate and every client certificate (admin in system:masters, the controller-manager, the
// scheduler, kwok); a separate RSA key pair signs service-account tokens.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ClientCert {
  cert: string;
  key: string;
}

export interface ControlPlanePki {
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
  admin: ClientCert;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await run('openssl', args, { cwd });
}

export async function issueClientCert(dir: string, pki: Pick<ControlPlanePki, 'caCert' | 'caKey'>, name: string, subject: string): Promise<ClientCert> {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  const ext = join(dir, `${name}.ext`);
  await writeFile(ext, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key], dir);
  await openssl(['req', '-new', '-key', key, '-subj', subject, '-out', csr], dir);
  await openssl(['x509', '-req', '-in', csr, '-CA', pki.caCert, '-CAkey', pki.caKey, '-CAcreateserial', '-days', '30', '-extfile', ext, '-out', cert], dir);
  return { cert, key };
}

export async function createPki(dir: string): Promise<ControlPlanePki> {
  const caKey = join(dir, 'ca.key');
  const caCert = join(dir, 'ca.crt');
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', caKey], dir);
  await openssl(['req', '-x509', '-new', '-key', caKey, '-subj', '/CN=chrysalis-local-ca', '-days', '30', '-out', caCert,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'], dir);

  const servingKey = join(dir, 'apiserver.key');
  const servingCsr = join(dir, 'apiserver.csr');
  const servingCert = join(dir, 'apiserver.crt');
  const servingExt = join(dir, 'apiserver.ext');
  await writeFile(servingExt, [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    // 10.96.0.1: the `kubernetes` Service's ClusterIP, which Pods on a real node dial (in-cluster config).
    'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc',
  ].join('\n') + '\n');
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', servingKey], dir);
  await openssl(['req', '-new', '-key', servingKey, '-subj', '/CN=kube-apiserver', '-out', servingCsr], dir);
  await openssl(['x509', '-req', '-in', servingCsr, '-CA', caCert, '-CAkey', caKey, '-CAcreateserial', '-days', '30', '-extfile', servingExt, '-out', servingCert], dir);

  const serviceAccountKey = join(dir, 'sa.key');
  const serviceAccountPub = join(dir, 'sa.pub');
  await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', serviceAccountKey], dir);
  await openssl(['pkey', '-in', serviceAccountKey, '-pubout', '-out', serviceAccountPub], dir);

  const admin = await issueClientCert(dir, { caCert, caKey }, 'admin', '/O=system:masters/CN=chrysalis-admin');
  return { caCert, caKey, servingCert, servingKey, serviceAccountKey, serviceAccountPub, admin };
}
