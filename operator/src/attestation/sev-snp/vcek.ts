// What a VCEK/VLEK certificate says about the chip and firmware it was issued for (AMD "Versioned Chip
// Endorsement Key (VCEK) Certificate and KDS Interface Specification", Table 8 "VCEK Certificate
// Extensions"). Each extnValue is a DER value, except hwID, which AMD stores as the raw chip id bytes;
// some certificates wrap it in an OCTET STRING, so both forms are read.
import { DER, decodeSmallUnsigned, readSingle } from '../der.js';
import { AttestationError } from '../reasons.js';
import type { ParsedCertificate } from '../x509.js';

export const AMD_OID = {
  structVersion: '1.3.6.1.4.1.3704.1.1',
  productName: '1.3.6.1.4.1.3704.1.2',
  blSPL: '1.3.6.1.4.1.3704.1.3.1',
  teeSPL: '1.3.6.1.4.1.3704.1.3.2',
  snpSPL: '1.3.6.1.4.1.3704.1.3.3',
  ucodeSPL: '1.3.6.1.4.1.3704.1.3.8',
  fmcSPL: '1.3.6.1.4.1.3704.1.3.9',
  hwID: '1.3.6.1.4.1.3704.1.4',
  cspID: '1.3.6.1.4.1.3704.1.5',
} as const;

export interface AmdKeyCertificate {
  kind: 'vcek' | 'vlek';
  productName: string | undefined;
  spl: { bootloader: number; tee: number; snp: number; microcode: number; fmc: number | undefined };
  /** VCEK only: the chip id it was issued for (64 bytes; 8 on Turin). */
  hwId: Uint8Array | undefined;
  /** VLEK only: the cloud provider it was issued to. */
  cspId: string | undefined;
}

function integerExt(cert: ParsedCertificate, oid: string, name: string): number {
  const v = cert.extensions.get(oid);
  if (!v) throw new AttestationError('MALFORMED_EVIDENCE', `VCEK/VLEK certificate lacks the ${name} extension`);
  return decodeSmallUnsigned(readSingle(v, DER.INTEGER));
}

function stringExt(cert: ParsedCertificate, oid: string): string | undefined {
  const v = cert.extensions.get(oid);
  if (!v) return undefined;
  const node = readSingle(v);
  return Buffer.from(node.content).toString('utf8');
}

function hwIdOf(value: Uint8Array): Uint8Array {
  if (value.length === 64 || value.length === 8) return value;
  if (value[0] === DER.OCTET_STRING) {
    const inner = readSingle(value, DER.OCTET_STRING).content;
    if (inner.length === 64 || inner.length === 8) return inner;
  }
  throw new AttestationError('MALFORMED_EVIDENCE', `VCEK hwID has unexpected length ${value.length}`);
}

export function readAmdKeyCertificate(cert: ParsedCertificate): AmdKeyCertificate {
  const cn = cert.subjectCommonName;
  const kind = cn === 'SEV-VCEK' ? 'vcek' : cn === 'SEV-VLEK' ? 'vlek' : undefined;
  if (!kind) throw new AttestationError('MALFORMED_EVIDENCE', `signing certificate subject CN is "${cn ?? ''}", expected SEV-VCEK or SEV-VLEK`);
  const hw = cert.extensions.get(AMD_OID.hwID);
  const fmc = cert.extensions.has(AMD_OID.fmcSPL) ? integerExt(cert, AMD_OID.fmcSPL, 'fmcSPL') : undefined;
  return {
    kind,
    productName: stringExt(cert, AMD_OID.productName),
    spl: {
      bootloader: integerExt(cert, AMD_OID.blSPL, 'blSPL'),
      tee: integerExt(cert, AMD_OID.teeSPL, 'teeSPL'),
      snp: integerExt(cert, AMD_OID.snpSPL, 'snpSPL'),
      microcode: integerExt(cert, AMD_OID.ucodeSPL, 'ucodeSPL'),
      fmc,
    },
    hwId: hw ? hwIdOf(hw) : undefined,
    cspId: stringExt(cert, AMD_OID.cspID),
  };
}
