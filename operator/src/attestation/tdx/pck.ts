// The Intel SGX PCK certificate extension (OID 1.2.840.113741.1.13.1, "SGX Extensions" in Intel's PCK
// Certificate and CRL Profile): a SEQUENCE of (OID, value) pairs. Read here: PPID (.1), TCB (.2: 16
// component SVNs .2.1–.2.16, PCESVN .2.17, CPUSVN .2.18), PCE-ID (.3), FMSPC (.4).
import { toHex } from '../bytes.js';
import { children, decodeOid, decodeSmallUnsigned, DER, readSingle, type DerNode } from '../der.js';
import { AttestationError } from '../reasons.js';
import type { ParsedCertificate } from '../x509.js';

export const OID_SGX_EXTENSIONS = '1.2.840.113741.1.13.1';

export interface PckInfo {
  ppid: string;
  fmspc: string;
  pceId: string;
  pceSvn: number;
  /** The 16 SGX TCB component SVNs (the CPUSVN, component by component). */
  cpuSvnComponents: number[];
}

function pairs(node: DerNode): Map<string, DerNode> {
  const out = new Map<string, DerNode>();
  for (const entry of children(node)) {
    const [oid, value] = children(entry);
    if (!oid || !value) throw new AttestationError('MALFORMED_EVIDENCE', 'PCK SGX extension entry is incomplete');
    out.set(decodeOid(oid), value);
  }
  return out;
}

function need(map: Map<string, DerNode>, oid: string, name: string): DerNode {
  const v = map.get(oid);
  if (!v) throw new AttestationError('MALFORMED_EVIDENCE', `PCK certificate lacks SGX extension field ${name}`);
  return v;
}

export function readPckInfo(cert: ParsedCertificate): PckInfo {
  const ext = cert.extensions.get(OID_SGX_EXTENSIONS);
  if (!ext) throw new AttestationError('MALFORMED_EVIDENCE', 'PCK certificate has no SGX extensions');
  const top = pairs(readSingle(ext, DER.SEQUENCE));
  const base = OID_SGX_EXTENSIONS;
  const tcb = pairs(need(top, `${base}.2`, 'TCB'));
  const cpuSvnComponents: number[] = [];
  for (let i = 1; i <= 16; i++) cpuSvnComponents.push(decodeSmallUnsigned(need(tcb, `${base}.2.${i}`, `TCB component ${i}`)));
  const octets = (oid: string, name: string): string => {
    const v = need(top, oid, name);
    if (v.tag !== DER.OCTET_STRING) throw new AttestationError('MALFORMED_EVIDENCE', `PCK ${name} is not an OCTET STRING`);
    return toHex(v.content);
  };
  const fmspc = octets(`${base}.4`, 'FMSPC');
  if (fmspc.length !== 12) throw new AttestationError('MALFORMED_EVIDENCE', 'PCK FMSPC is not 6 bytes');
  return {
    ppid: octets(`${base}.1`, 'PPID'),
    fmspc,
    pceId: octets(`${base}.3`, 'PCE-ID'),
    pceSvn: decodeSmallUnsigned(need(tcb, `${base}.2.17`, 'PCESVN')),
    cpuSvnComponents,
  };
}
