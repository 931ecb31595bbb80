// The real node's cluster DNS (dev/cluster/cluster-dns.ts) answers a Service's name with its ClusterIP,
// as the Pods' resolver asks for it (A, with the search-list variants that do not exist answered
// NXDOMAIN), and AAAA for an existing name with no record, so glibc falls back to the A answer.
import test from 'ava';
import { answer } from '../../dev/cluster/cluster-dns.js';

function query(name: string, type: number, id = 0x1234): Buffer {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.of(l.length), Buffer.from(l)]));
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2); // RD
  header.writeUInt16BE(1, 4);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(1, 2);
  return Buffer.concat([header, ...labels, Buffer.of(0), tail]);
}

const services: Record<string, string> = { 'chrysalis-attestation.chrysalis-system.svc.cluster.local': '10.96.0.42' };
const lookup = (name: string) => Promise.resolve(services[name]);

test('a Service name gets its ClusterIP; the id and question are echoed', async (t) => {
  const reply = (await answer(query('Chrysalis-Attestation.chrysalis-system.svc.cluster.local', 1, 0xbeef), lookup))!;
  t.is(reply.readUInt16BE(0), 0xbeef);
  t.is(reply.readUInt16BE(2) & 0x000f, 0, 'NOERROR');
  t.is(reply.readUInt16BE(2) & 0x8000, 0x8000, 'a response');
  t.is(reply.readUInt16BE(6), 1, 'one answer');
  t.deepEqual([...reply.subarray(reply.length - 4)], [10, 96, 0, 42]);
});

test('a name that is no Service is NXDOMAIN; AAAA of a Service is NOERROR with no answer', async (t) => {
  const nx = (await answer(query('chrysalis-attestation.chrysalis-system.svc.chrysalis-system.svc.cluster.local', 1), lookup))!;
  t.is(nx.readUInt16BE(2) & 0x000f, 3);
  t.is(nx.readUInt16BE(6), 0);
  const aaaa = (await answer(query('chrysalis-attestation.chrysalis-system.svc.cluster.local', 28), lookup))!;
  t.is(aaaa.readUInt16BE(2) & 0x000f, 0);
  t.is(aaaa.readUInt16BE(6), 0);
});

test('a malformed message gets no answer', async (t) => {
  t.is(await answer(Buffer.from('short'), lookup), undefined);
});
