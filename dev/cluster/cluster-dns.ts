// Cluster DNS for the real node's Pods: a small UDP DNS server on the host end of the node's link that
// answers `<service>.<namespace>.svc.<domain>` with the Service's ClusterIP, as CoreDNS does for the
// records Chrysalis uses (the attester and the replica sidecars reach the attestation Service by its name,
// which its TLS certificate carries). The kubelet names it as clusterDNS, so every Pod's resolv.conf points
// here with the usual search list. Anything else is NXDOMAIN; nothing is forwarded off the machine.
import { createSocket, type Socket } from 'node:dgram';
import type { KubeConfig } from '@kubernetes/client-node';

export const CLUSTER_DOMAIN = 'cluster.local';
const TYPE_A = 1;
const CLASS_IN = 1;
const TTL_SECONDS = 5;

export interface ClusterDns {
  readonly address: string;
  close(): Promise<void>;
}

/** The question of a DNS query: name (lowercase, no trailing dot), type, class, and where it ends. */
function parseQuestion(msg: Buffer): { name: string; type: number; klass: number; end: number } | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let at = 12;
  for (;;) {
    const length = msg[at];
    if (length === undefined || length > 63) return undefined; // no compression in a question
    at++;
    if (length === 0) break;
    labels.push(msg.subarray(at, at + length).toString('ascii').toLowerCase());
    at += length;
  }
  if (at + 4 > msg.length) return undefined;
  return { name: labels.join('.'), type: msg.readUInt16BE(at), klass: msg.readUInt16BE(at + 2), end: at + 4 };
}

/** Answers a query; `lookup` gives a name's IPv4 address, or undefined when the name does not exist. */
export async function answer(msg: Buffer, lookup: (name: string) => Promise<string | undefined>): Promise<Buffer | undefined> {
  const q = parseQuestion(msg);
  if (!q) return undefined;
  const ip = q.klass === CLASS_IN ? await lookup(q.name).catch(() => undefined) : undefined;
  const header = Buffer.alloc(12);
  header.writeUInt16BE(msg.readUInt16BE(0), 0); // id
  // QR, AA, RD copied, RA; RCODE 3 (NXDOMAIN) for a name that does not exist.
  header.writeUInt16BE(0x8000 | 0x0400 | (msg.readUInt16BE(2) & 0x0100) | 0x0080 | (ip === undefined ? 3 : 0), 2);
  header.writeUInt16BE(1, 4);
  const question = msg.subarray(12, q.end);
  if (ip === undefined || q.type !== TYPE_A) return Buffer.concat([header, question]); // NXDOMAIN, or NODATA (AAAA …)
  header.writeUInt16BE(1, 6);
  const record = Buffer.alloc(16);
  record.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
  record.writeUInt16BE(TYPE_A, 2);
  record.writeUInt16BE(CLASS_IN, 4);
  record.writeUInt32BE(TTL_SECONDS, 6);
  record.writeUInt16BE(4, 10);
  ip.split('.').forEach((octet, i) => record.writeUInt8(Number(octet), 12 + i));
  return Buffer.concat([header, question, record]);
}

/** Starts the server on `address`:53; Services are read with `kc` (the harness's own credential, as CoreDNS has its own). */
export async function startClusterDns(address: string, kc: KubeConfig): Promise<ClusterDns> {
  const { CoreV1Api } = await import('@kubernetes/client-node');
  const core = kc.makeApiClient(CoreV1Api);
  const suffix = `.svc.${CLUSTER_DOMAIN}`;
  const lookup = async (name: string): Promise<string | undefined> => {
    if (!name.endsWith(suffix)) return undefined;
    const parts = name.slice(0, -suffix.length).split('.');
    if (parts.length !== 2) return undefined;
    const service = await core.readNamespacedService({ name: parts[0]!, namespace: parts[1]! });
    const ip = service.spec?.clusterIP;
    return ip && ip !== 'None' && /^\d+\.\d+\.\d+\.\d+$/.test(ip) ? ip : undefined;
  };
  const socket: Socket = createSocket({ type: 'udp4', reuseAddr: true });
  socket.on('message', (msg, from) => {
    void answer(msg, lookup).then((reply) => {
      if (reply) socket.send(reply, from.port, from.address);
    });
  });
  await new Promise<void>((resolveBind, rejectBind) => {
    socket.once('error', rejectBind);
    socket.bind(53, address, () => {
      socket.off('error', rejectBind);
      resolveBind();
    });
  });
  socket.on('error', () => undefined);
  return {
    address,
    close: () => new Promise<void>((resolveClose) => socket.close(() => resolveClose())),
  };
}
