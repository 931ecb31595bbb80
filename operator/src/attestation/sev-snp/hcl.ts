// The Azure confidential-VM "HCL report" wrapper (what the paravisor returns from its vTPM NV index):
// a 32-byte header starting "HCLA", the SNP report at [0x20, 0x4C0), then a runtime-data header of five
// u32 (data_size, version, report_type, hash_type, claim_size) at 0x4C0 and the runtime-claims JSON at
// 0x4D4. The SNP report_data commits to the claims: report_data[0:32] = SHA-256(claims) for hash_type 1.
import { ByteReader, bytesEqual, isAllZero, sha256 } from '../bytes.js';
import { AttestationError } from '../reasons.js';
import { SNP_REPORT_SIZE } from './report.js';

const MAGIC = [0x48, 0x43, 0x4c, 0x41]; // "HCLA"
const REPORT_OFFSET = 0x20;
const RUNTIME_HEADER_OFFSET = REPORT_OFFSET + SNP_REPORT_SIZE;
const RUNTIME_CLAIMS_OFFSET = RUNTIME_HEADER_OFFSET + 20;
const REPORT_TYPE_SNP = 2;
const HASH_TYPE_SHA256 = 1;

export interface HclReport {
  report: Uint8Array;
  runtimeClaims: Uint8Array;
  hashType: number;
}

export function isHclReport(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && MAGIC.every((b, i) => bytes[i] === b);
}

export function parseHclReport(bytes: Uint8Array): HclReport {
  const r = new ByteReader(bytes, 'Azure HCL report');
  if (!isHclReport(bytes)) throw new AttestationError('MALFORMED_EVIDENCE', 'not an Azure HCL report (no "HCLA" magic)');
  const report = r.slice(REPORT_OFFSET, SNP_REPORT_SIZE);
  const reportType = r.u32(RUNTIME_HEADER_OFFSET + 8);
  const hashType = r.u32(RUNTIME_HEADER_OFFSET + 12);
  const claimSize = r.u32(RUNTIME_HEADER_OFFSET + 16);
  if (reportType !== REPORT_TYPE_SNP) throw new AttestationError('MALFORMED_EVIDENCE', `HCL report type ${reportType} is not SEV-SNP (2)`);
  return { report, runtimeClaims: r.slice(RUNTIME_CLAIMS_OFFSET, claimSize), hashType };
}

/** Whether the SNP report_data commits to the runtime claims as the HCL format defines. */
export function hclBindingHolds(hcl: HclReport, reportData: Uint8Array): boolean {
  if (hcl.hashType !== HASH_TYPE_SHA256) return false;
  return bytesEqual(reportData.subarray(0, 32), sha256(hcl.runtimeClaims)) && isAllZero(reportData.subarray(32));
}
