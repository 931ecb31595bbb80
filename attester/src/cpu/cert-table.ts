// The SEV-SNP certificate table: what the kernel returns in the TSM `auxblob` for a sev_guest provider
// (and what the older SNP_GET_EXT_REPORT ioctl returned in its certificate buffer).
//
// Layout (AMD "SEV-ES Guest-Hypervisor Communication Block Standardization" (GHCB) spec, rev 2.x,
// section "SNP Extended Guest Request", table "Certificate Table Entry"): a list of 24-byte entries
//   GUID (16 bytes) ‖ offset (u32 LE) ‖ length (u32 LE)
// terminated by an entry that is all zero. Offsets count from the start of the table itself.
//
// GUIDs (same spec, "Certificate GUIDs"; the same values are used by the Linux sev-guest docs, virtee's
// `sev` crate and snpguest):
//   VCEK 63da758d-e664-4564-adc5-f4b93be8accd   VLEK a8074bc2-a25a-483e-aae6-39c045a0b8a1
//   ASK  4ab7b379-bbac-4fe4-a02f-05aef327c782   ARK  c0b406a4-a803-4952-9743-3fb6014cd0ae
// The spec writes GUIDs as text but does not pin the byte order in the table. Hosts built on the
// virtee tooling store them in RFC 4122 (big-endian) order; we also accept the mixed-endian EFI/Microsoft
// order (first three groups little-endian) so a host using Linux guid_t conventions is not misread.
// Each certificate is DER (AMD KDS serves VCEK as DER; ASK/ARK may be DER or PEM — both are returned as-is).
import { AttesterError } from '../errors.js';

export const SNP_CERT_GUIDS = {
  vcek: '63da758d-e664-4564-adc5-f4b93be8accd',
  vlek: 'a8074bc2-a25a-483e-aae6-39c045a0b8a1',
  ask: '4ab7b379-bbac-4fe4-a02f-05aef327c782',
  ark: 'c0b406a4-a803-4952-9743-3fb6014cd0ae',
} as const;

export type SnpCertKind = keyof typeof SNP_CERT_GUIDS;

const ENTRY_BYTES = 24;

/** RFC 4122 byte order: the hex digits in the order they are written. */
export function guidToBytes(guid: string): Uint8Array {
  return new Uint8Array(Buffer.from(guid.replace(/-/g, ''), 'hex'));
}

/** The same GUID in mixed-endian (EFI) order: time_low, time_mid, time_hi byte-swapped. */
function guidToMixedEndian(guid: string): Uint8Array {
  const b = guidToBytes(guid);
  return new Uint8Array([b[3]!, b[2]!, b[1]!, b[0]!, b[5]!, b[4]!, b[7]!, b[6]!, ...b.subarray(8)]);
}

function kindOf(guid: Uint8Array): SnpCertKind | undefined {
  for (const [kind, text] of Object.entries(SNP_CERT_GUIDS) as [SnpCertKind, string][]) {
    if (Buffer.from(guid).equals(guidToBytes(text)) || Buffer.from(guid).equals(guidToMixedEndian(text))) return kind;
  }
  return undefined;
}

export interface SnpCertTable {
  /** The certificates by kind, as stored (normally DER). */
  certs: Partial<Record<SnpCertKind, Uint8Array>>;
  /** GUIDs present in the table that this attester does not know (kept for diagnostics, not sent). */
  unknown: string[];
}

/** Parses a certificate table; an empty blob is an empty table (hosts may supply no certificates). */
export function parseCertTable(blob: Uint8Array): SnpCertTable {
  const table: SnpCertTable = { certs: {}, unknown: [] };
  if (blob.length === 0) return table;
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  for (let at = 0; ; at += ENTRY_BYTES) {
    if (at + ENTRY_BYTES > blob.length) {
      throw new AttesterError('TSM_FAILED', `SNP certificate table (auxblob, ${blob.length} bytes) has no terminating all-zero entry`);
    }
    const entry = blob.subarray(at, at + ENTRY_BYTES);
    if (entry.every((b) => b === 0)) return table;
    const guid = entry.subarray(0, 16);
    const offset = view.getUint32(at + 16, true);
    const length = view.getUint32(at + 20, true);
    if (offset + length > blob.length || offset < at + ENTRY_BYTES) {
      throw new AttesterError('TSM_FAILED', `SNP certificate table entry ${at / ENTRY_BYTES} points outside the table (offset ${offset}, length ${length}, table ${blob.length} bytes)`);
    }
    const kind = kindOf(guid);
    if (kind) table.certs[kind] = blob.slice(offset, offset + length);
    else table.unknown.push(Buffer.from(guid).toString('hex'));
  }
}

/** Builds a table (RFC 4122 GUID order), as a host would: used by test fixtures and the simulated host. */
export function buildCertTable(certs: Partial<Record<SnpCertKind, Uint8Array>>): Uint8Array {
  const present = (Object.keys(SNP_CERT_GUIDS) as SnpCertKind[]).filter((k) => certs[k] !== undefined);
  const headerBytes = (present.length + 1) * ENTRY_BYTES;
  const total = headerBytes + present.reduce((n, k) => n + certs[k]!.length, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let dataAt = headerBytes;
  present.forEach((kind, i) => {
    const cert = certs[kind]!;
    out.set(guidToBytes(SNP_CERT_GUIDS[kind]), i * ENTRY_BYTES);
    view.setUint32(i * ENTRY_BYTES + 16, dataAt, true);
    view.setUint32(i * ENTRY_BYTES + 20, cert.length, true);
    out.set(cert, dataAt);
    dataAt += cert.length;
  });
  return out;
}
