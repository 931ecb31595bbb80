// Intel TDX quotes, versions 4 and 5 (Intel "TDX DCAP Quoting Library API", Appendix A "Quote Format"),
// little-endian. Layout and offsets as documented in test/vectors/tdx/SOURCE.md. Bytes after the
// signature data are padding and ignored (they are outside every signature).
import { ByteReader } from '../bytes.js';
import { AttestationError } from '../reasons.js';

export const TEE_TYPE_TDX = 0x81;
export const ATT_KEY_TYPE_ECDSA_P256 = 2;
const HEADER_SIZE = 48;
const BODY_TDX10_SIZE = 584;
const BODY_TDX15_SIZE = 648;
const QE_REPORT_SIZE = 384;
const CERT_TYPE_QE_REPORT = 6;
const CERT_TYPE_PCK_CHAIN = 5;

export interface TdReportBody {
  teeTcbSvn: Uint8Array;
  mrSeam: Uint8Array;
  mrSignerSeam: Uint8Array;
  seamAttributes: Uint8Array;
  tdAttributes: Uint8Array;
  xfam: Uint8Array;
  mrTd: Uint8Array;
  mrConfigId: Uint8Array;
  mrOwner: Uint8Array;
  mrOwnerConfig: Uint8Array;
  rtmrs: Uint8Array[];
  reportData: Uint8Array;
  /** TDX 1.5 (v5 body type 3) only. */
  teeTcbSvn2?: Uint8Array;
  mrServiceTd?: Uint8Array;
}

/** The QE's SGX REPORT body (SGX "REPORT" structure, first 384 bytes). */
export interface QeReport {
  raw: Uint8Array;
  cpuSvn: Uint8Array;
  miscSelect: number;
  attributes: Uint8Array;
  mrEnclave: Uint8Array;
  mrSigner: Uint8Array;
  isvProdId: number;
  isvSvn: number;
  reportData: Uint8Array;
}

export interface TdxQuote {
  version: number;
  /** v5 only: 2 = TDX 1.0 body, 3 = TDX 1.5 body. */
  bodyType: number | undefined;
  qeVendorId: Uint8Array;
  body: TdReportBody;
  /** quote[0, end of body): what the attestation key signed. */
  signedBytes: Uint8Array;
  signature: Uint8Array;
  /** Raw X ‖ Y of the P-256 attestation key. */
  attestationKey: Uint8Array;
  qeReport: QeReport;
  qeReportSignature: Uint8Array;
  qeAuthData: Uint8Array;
  /** The PEM text of the PCK chain (leaf, intermediate, root), NUL padding removed. */
  pckChainPem: string;
  /** Bytes after the signature data (ignored). */
  trailingBytes: number;
}

function fail(message: string): never {
  throw new AttestationError('MALFORMED_EVIDENCE', `TDX quote: ${message}`);
}

function parseBody(r: ByteReader, at: number, tdx15: boolean): TdReportBody {
  const body: TdReportBody = {
    teeTcbSvn: r.slice(at, 16),
    mrSeam: r.slice(at + 0x10, 48),
    mrSignerSeam: r.slice(at + 0x40, 48),
    seamAttributes: r.slice(at + 0x70, 8),
    tdAttributes: r.slice(at + 0x78, 8),
    xfam: r.slice(at + 0x80, 8),
    mrTd: r.slice(at + 0x88, 48),
    mrConfigId: r.slice(at + 0xb8, 48),
    mrOwner: r.slice(at + 0xe8, 48),
    mrOwnerConfig: r.slice(at + 0x118, 48),
    rtmrs: [0, 1, 2, 3].map((i) => r.slice(at + 0x148 + i * 48, 48)),
    reportData: r.slice(at + 0x208, 64),
  };
  if (tdx15) {
    body.teeTcbSvn2 = r.slice(at + 0x248, 16);
    body.mrServiceTd = r.slice(at + 0x258, 48);
  }
  return body;
}

function parseQeReport(raw: Uint8Array): QeReport {
  const r = new ByteReader(raw, 'QE report');
  return {
    raw,
    cpuSvn: r.slice(0, 16),
    miscSelect: r.u32(16),
    attributes: r.slice(48, 16),
    mrEnclave: r.slice(64, 32),
    mrSigner: r.slice(128, 32),
    isvProdId: r.u16(256),
    isvSvn: r.u16(258),
    reportData: r.slice(320, 64),
  };
}

export function parseTdxQuote(bytes: Uint8Array): TdxQuote {
  const r = new ByteReader(bytes, 'TDX quote');
  const version = r.u16(0);
  if (version !== 4 && version !== 5) fail(`version ${version} is not supported (4, 5)`);
  if (r.u16(2) !== ATT_KEY_TYPE_ECDSA_P256) fail(`attestation key type ${r.u16(2)} is not ECDSA P-256 (2)`);
  if (r.u32(4) !== TEE_TYPE_TDX) fail(`TEE type 0x${r.u32(4).toString(16)} is not TDX (0x81)`);

  let bodyType: number | undefined;
  let bodyStart = HEADER_SIZE;
  let bodySize = BODY_TDX10_SIZE;
  if (version === 5) {
    bodyType = r.u16(HEADER_SIZE);
    const declared = r.u32(HEADER_SIZE + 2);
    if (bodyType === 2) bodySize = BODY_TDX10_SIZE;
    else if (bodyType === 3) bodySize = BODY_TDX15_SIZE;
    else fail(`v5 body type ${bodyType} is not a TD report (2, 3)`);
    if (declared !== bodySize) fail(`v5 body size ${declared} does not match body type ${bodyType}`);
    bodyStart = HEADER_SIZE + 6;
  }
  const body = parseBody(r, bodyStart, bodySize === BODY_TDX15_SIZE);
  const end = bodyStart + bodySize;

  const sigDataLength = r.u32(end);
  const sigData = r.slice(end + 4, sigDataLength);
  const s = new ByteReader(sigData, 'TDX quote signature data');
  const signature = s.slice(0, 64);
  const attestationKey = s.slice(64, 64);
  if (s.u16(128) !== CERT_TYPE_QE_REPORT) fail(`certification data type ${s.u16(128)} is not QE report (6)`);
  const qeCertSize = s.u32(130);
  const qe = new ByteReader(s.slice(134, qeCertSize), 'QE report certification data');
  const qeReport = parseQeReport(qe.slice(0, QE_REPORT_SIZE));
  const qeReportSignature = qe.slice(QE_REPORT_SIZE, 64);
  const authLength = qe.u16(QE_REPORT_SIZE + 64);
  const qeAuthData = qe.slice(QE_REPORT_SIZE + 66, authLength);
  const inner = QE_REPORT_SIZE + 66 + authLength;
  if (qe.u16(inner) !== CERT_TYPE_PCK_CHAIN) fail(`QE certification data type ${qe.u16(inner)} is not a PCK chain (5)`);
  const chainSize = qe.u32(inner + 2);
  const chain = qe.slice(inner + 6, chainSize);
  let chainEnd = chain.length;
  while (chainEnd > 0 && chain[chainEnd - 1] === 0) chainEnd--;
  return {
    version,
    bodyType,
    qeVendorId: r.slice(12, 16),
    body,
    signedBytes: r.slice(0, end),
    signature,
    attestationKey,
    qeReport,
    qeReportSignature,
    qeAuthData,
    pckChainPem: Buffer.from(chain.subarray(0, chainEnd)).toString('latin1'),
    trailingBytes: bytes.length - (end + 4 + sigDataLength),
  };
}
