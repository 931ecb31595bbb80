import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Attester } from '../../attester/src/attester.js';
import type { CpuEvidenceSource } from '../../attester/src/cpu/source.js';
import { AttesterError, exitCodeFor } from '../../attester/src/errors.js';
import { CERT_STRUCT, decodeCertStruct, decodeReportStruct, loadNvml, REPORT_STRUCT, type ConfComputeState, type NvmlBinding } from '../../attester/src/gpu/nvml.js';
import { chainAsPem, NvmlGpuSource } from '../../attester/src/gpu/source.js';
import type { Transport } from '../../attester/src/transport.js';

const PEM_CHAIN = ['leaf', 'int1', 'root']
  .map((n) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(`fake ${n} certificate`).toString('base64')}\n-----END CERTIFICATE-----\n`)
  .join('');

/** A fake NVML behind the binding interface: records calls, answers with the given CC state. */
function fakeNvml(state: ConfComputeState, gpus = 2): NvmlBinding & { calls: string[]; nonces: Uint8Array[] } {
  const calls: string[] = [];
  const nonces: Uint8Array[] = [];
  return {
    calls,
    nonces,
    init: () => void calls.push('init'),
    shutdown: () => void calls.push('shutdown'),
    deviceCount: () => gpus,
    driverVersion: () => '550.90.07',
    vbiosVersion: (i) => `96.00.9F.00.0${i}`,
    confComputeState: () => state,
    gpusReadyState: () => 0,
    setGpusReadyState: (v) => void calls.push(`set ready ${v}`),
    attestationReport: (i, nonce) => {
      calls.push(`report ${i}`);
      nonces.push(nonce);
      return { report: new Uint8Array([0x11, 0xe0, i, ...nonce]), cecReport: undefined };
    },
    certificates: (i) => {
      calls.push(`cert ${i}`);
      return { certChain: new Uint8Array(0), attestationCertChain: new Uint8Array(Buffer.from(`${PEM_CHAIN}\0\0`)) };
    },
  };
}

const CC_ON: ConfComputeState = { environment: 2, ccFeature: 1, devToolsMode: 0 };
const CC_OFF: ConfComputeState = { environment: 2, ccFeature: 0, devToolsMode: 0 };

test('a missing libnvidia-ml.so is the typed NVML_UNAVAILABLE error with a one-line message', (t) => {
  const err = t.throws(() => loadNvml('/nonexistent/libnvidia-ml.so.1'), { instanceOf: AttesterError });
  t.is(err?.code, 'NVML_UNAVAILABLE');
  t.false(err?.oneLine().includes('\n'));
  t.regex(err?.message ?? '', /libnvidia-ml\.so cannot be loaded/);
  t.is(exitCodeFor(err!), 2);
});

test('on this machine (no NVIDIA driver) the NVML source fails NVML_UNAVAILABLE on first use, not on construction', async (t) => {
  const source = new NvmlGpuSource({ libraryPath: '/nonexistent/libnvidia-ml.so.1' });
  const err = await t.throwsAsync(source.collect(randomBytes(32)), { instanceOf: AttesterError });
  t.is(err?.code, 'NVML_UNAVAILABLE');
});

test('CC mode off yields GPU_CC_DISABLED, and no evidence request reaches the service', async (t) => {
  const nvml = fakeNvml(CC_OFF);
  let evidenceSent = 0;
  let cpuCollected = 0;
  const transport: Transport = {
    challenge: async () => ({ nonce: randomBytes(32).toString('hex'), expiresAt: new Date(Date.now() + 60_000).toISOString() }),
    evidence: async () => {
      evidenceSent++;
      return { verified: true, reasons: [] };
    },
    usage: async () => ({ accepted: true, reasons: [] }),
  };
  const cpu: CpuEvidenceSource = {
    name: 'test',
    collect: async () => {
      cpuCollected++;
      return { type: 'tdx', quote: '' };
    },
  };
  const attester = new Attester({ subject: { kind: 'node', nodeName: 'gpu-1' }, cpu, gpu: new NvmlGpuSource({ binding: nvml }), transport });
  const err = await t.throwsAsync(attester.attestOnce(), { instanceOf: AttesterError });
  t.is(err?.code, 'GPU_CC_DISABLED');
  t.is(exitCodeFor(err!), 1);
  t.is(evidenceSent, 0);
  t.is(cpuCollected, 0, 'no CPU report is even produced');
  t.false(nvml.calls.some((c) => c.startsWith('report')), 'no GPU report is requested');
  t.deepEqual(nvml.calls, ['init', 'shutdown'], 'NVML is shut down after the refusal');
  t.false(attester.attested);
});

test('devtools mode counts as CC disabled', async (t) => {
  const source = new NvmlGpuSource({ binding: fakeNvml({ environment: 2, ccFeature: 1, devToolsMode: 1 }) });
  const err = await t.throwsAsync(source.collect(randomBytes(32)), { instanceOf: AttesterError });
  t.is(err?.code, 'GPU_CC_DISABLED');
  t.regex(err?.message ?? '', /devtools/);
});

test('with CC on, every GPU is asked for a report bound to the challenge nonce and its PEM chain is sent leaf first', async (t) => {
  const nvml = fakeNvml(CC_ON, 2);
  const nonce = randomBytes(32);
  const gpus = await new NvmlGpuSource({ binding: nvml }).collect(nonce);
  t.is(gpus.length, 2);
  t.true(nvml.nonces.every((n) => Buffer.from(n).equals(nonce)));
  t.is(gpus[1]!.index, 1);
  t.deepEqual(Buffer.from(gpus[1]!.report, 'base64'), Buffer.from([0x11, 0xe0, 1, ...nonce]));
  t.is(gpus[0]!.certChain, PEM_CHAIN, 'PEM kept, trailing NULs dropped');
  t.is(nvml.calls.at(-1), 'shutdown');
});

test('the report and certificate structs are decoded at nvml.h offsets and oversize lengths are refused', (t) => {
  t.is(REPORT_STRUCT.size, 12332);
  t.is(CERT_STRUCT.size, 9224);
  const buf = Buffer.alloc(REPORT_STRUCT.size);
  buf.writeUInt32LE(1, REPORT_STRUCT.isCecPresent);
  buf.writeUInt32LE(3, REPORT_STRUCT.reportSize);
  buf.writeUInt32LE(2, REPORT_STRUCT.cecReportSize);
  buf.set([7, 8, 9], REPORT_STRUCT.report);
  buf.set([5, 6], REPORT_STRUCT.cecReport);
  const decoded = decodeReportStruct(buf);
  t.deepEqual([...decoded.report], [7, 8, 9]);
  t.deepEqual([...(decoded.cecReport ?? [])], [5, 6]);
  buf.writeUInt32LE(REPORT_STRUCT.reportCapacity + 1, REPORT_STRUCT.reportSize);
  t.throws(() => decodeReportStruct(buf), { instanceOf: AttesterError });

  const cert = Buffer.alloc(CERT_STRUCT.size);
  cert.writeUInt32LE(2, CERT_STRUCT.certChainSize);
  cert.writeUInt32LE(4, CERT_STRUCT.attestationCertChainSize);
  cert.set([1, 2], CERT_STRUCT.certChain);
  cert.set([3, 4, 5, 6], CERT_STRUCT.attestationCertChain);
  const chains = decodeCertStruct(cert);
  t.deepEqual([...chains.certChain], [1, 2]);
  t.deepEqual([...chains.attestationCertChain], [3, 4, 5, 6]);
});

test('a DER-concatenated chain is converted to PEM, and garbage is refused', (t) => {
  const der1 = Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]);
  const der2 = Buffer.concat([Buffer.from([0x30, 0x81, 0x80]), Buffer.alloc(0x80, 0x05)]);
  const pem = chainAsPem(new Uint8Array(Buffer.concat([der1, der2])));
  t.is(pem.match(/BEGIN CERTIFICATE/g)?.length, 2);
  t.throws(() => chainAsPem(new Uint8Array([1, 2, 3])), { instanceOf: AttesterError });
});
