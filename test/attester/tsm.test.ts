// The configfs TSM file protocol against a directory laid out like configfs (see _fixture.ts FakeTsm).
// Whether the evidence produced this way is accepted by the verifier is in tsm-verify.test.ts.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { buildCertTable, guidToBytes, parseCertTable, SNP_CERT_GUIDS } from '../../attester/src/cpu/cert-table.js';
import { cpuEvidenceFromTsm, TsmCpuSource } from '../../attester/src/cpu/source.js';
import { nodeTsmIo, tsmReport } from '../../attester/src/cpu/tsm.js';
import { AttesterError } from '../../attester/src/errors.js';
import { FakeTsm, tempDir } from './_fixture.js';

/** An outblob with SNP report shape: 0x4A0 bytes, version 2, report_data at 0x50. */
function snpShaped(reportData: Uint8Array): { outblob: Uint8Array; auxblob: Uint8Array } {
  const out = new Uint8Array(0x4a0);
  out[0] = 2;
  out.set(reportData, 0x50);
  const der = (tag: number) => new Uint8Array([0x30, 0x03, 0x02, 0x01, tag]);
  return { outblob: out, auxblob: buildCertTable({ vcek: der(1), ask: der(2), ark: der(3) }) };
}

test('a report is produced through the TSM file protocol and the entry is removed afterwards', async (t) => {
  const tsm = await FakeTsm.create({ generate: snpShaped });
  t.teardown(() => tsm.cleanup());
  const reportData = randomBytes(64);
  const report = await tsmReport(reportData, { root: tsm.root, io: tsm });
  t.is(report.provider, 'sev_guest');
  t.is(report.attempts, 1);
  t.deepEqual(Buffer.from(report.outblob.subarray(0x50, 0x90)), reportData);
  t.is(tsm.entriesCreated.length, 1);
  t.deepEqual(await readdir(tsm.root), [], 'rmdir after use');
});

test('a generation change mid-read (another writer) is retried and the final report carries our report_data', async (t) => {
  const tsm = await FakeTsm.create({ generate: snpShaped, races: 1 });
  t.teardown(() => tsm.cleanup());
  const source = new TsmCpuSource({ root: tsm.root, io: tsm });
  const reportData = randomBytes(64);
  const evidence = await source.collect(reportData);
  t.is(tsm.racesInjected, 1);
  t.is(source.lastAttempts, 2);
  t.is(evidence.type, 'sev-snp');
  if (evidence.type !== 'sev-snp') return;
  t.deepEqual(Buffer.from(evidence.report, 'base64').subarray(0x50, 0x90), reportData);
});

test('a writer that races every attempt ends in TSM_FAILED, never in someone else\'s report', async (t) => {
  const tsm = await FakeTsm.create({ generate: snpShaped, races: 100 });
  t.teardown(() => tsm.cleanup());
  const err = await t.throwsAsync(tsmReport(randomBytes(64), { root: tsm.root, io: tsm, maxAttempts: 3 }), { instanceOf: AttesterError });
  t.is(err?.code, 'TSM_FAILED');
  t.true(err?.transient);
  t.deepEqual(await readdir(tsm.root), []);
});

test('a kernel without configfs TSM is reported as TSM_UNAVAILABLE in one line that says what is missing', async (t) => {
  const dir = await tempDir();
  const err = await t.throwsAsync(tsmReport(randomBytes(64), { root: `${dir}/no-tsm/report`, io: nodeTsmIo }), { instanceOf: AttesterError });
  t.is(err?.code, 'TSM_UNAVAILABLE');
  t.regex(err?.message ?? '', /this kernel does not offer configfs TSM reports/);
  t.regex(err?.message ?? '', /CONFIG_TSM_REPORTS/);
  t.false(err?.oneLine().includes('\n'));
});

test('report data of the wrong size is refused before touching the kernel', async (t) => {
  const err = await t.throwsAsync(tsmReport(randomBytes(32), { root: '/nonexistent' }), { instanceOf: AttesterError });
  t.is(err?.code, 'TSM_FAILED');
});

test('a TDX provider yields a quote as evidence', async (t) => {
  const tsm = await FakeTsm.create({
    provider: 'tdx_guest',
    generate: (rd) => {
      const quote = new Uint8Array(48 + 584 + 100);
      quote[0] = 4; // quote version 4: REPORTDATA at 48 + 520
      quote.set(rd, 48 + 520);
      return { outblob: quote };
    },
  });
  t.teardown(() => tsm.cleanup());
  const evidence = await new TsmCpuSource({ root: tsm.root, io: tsm }).collect(randomBytes(64));
  t.is(evidence.type, 'tdx');
});

test('the SNP certificate table yields the VCEK as DER and ASK+ARK as a PEM bundle', (t) => {
  const der = (tag: number) => new Uint8Array([0x30, 0x03, 0x02, 0x01, tag]);
  const table = buildCertTable({ vcek: der(1), ask: der(2), ark: der(3) });
  const parsed = parseCertTable(table);
  t.deepEqual([...parsed.certs.vcek!], [...der(1)]);
  const evidence = cpuEvidenceFromTsm('sev_guest', snpShaped(randomBytes(64)).outblob, table);
  if (evidence.type !== 'sev-snp') return t.fail();
  t.deepEqual([...Buffer.from(evidence.vcek!, 'base64')], [...der(1)]);
  t.is(evidence.chain?.match(/BEGIN CERTIFICATE/g)?.length, 2);
});

test('a certificate table with mixed-endian GUIDs, a VLEK and an unknown entry is read correctly', (t) => {
  // Re-encode the VLEK GUID in EFI (mixed-endian) byte order, as a host using Linux guid_t would.
  const rfc = guidToBytes(SNP_CERT_GUIDS.vlek);
  const mixed = new Uint8Array([rfc[3]!, rfc[2]!, rfc[1]!, rfc[0]!, rfc[5]!, rfc[4]!, rfc[7]!, rfc[6]!, ...rfc.subarray(8)]);
  const cert = new Uint8Array([0x30, 0x00]);
  const table = new Uint8Array(24 * 3 + cert.length * 2);
  const view = new DataView(table.buffer);
  table.set(mixed, 0);
  view.setUint32(16, 72, true);
  view.setUint32(20, 2, true);
  table.set(randomBytes(16), 24);
  view.setUint32(24 + 16, 74, true);
  view.setUint32(24 + 20, 2, true);
  table.set(cert, 72);
  table.set(cert, 74);
  const parsed = parseCertTable(table);
  t.deepEqual([...parsed.certs.vlek!], [0x30, 0x00]);
  t.is(parsed.unknown.length, 1);
});

test('a certificate table without terminator or with an entry pointing outside is refused', (t) => {
  const table = buildCertTable({ vcek: new Uint8Array([0x30, 0x00]) });
  t.throws(() => parseCertTable(table.subarray(0, 30)), { instanceOf: AttesterError });
  const bad = Uint8Array.from(table);
  new DataView(bad.buffer).setUint32(20, 9999, true);
  t.throws(() => parseCertTable(bad), { instanceOf: AttesterError });
});
