// Simulated NVIDIA H100: a device with its own five-certificate identity chain under the simulated root
// (leaf "GH100 A01 GSP FMC LF" with a SHA-384 FWID, per-device BROM, shared Provisioner ICA and Identity
// CAs) that writes SPDM 1.1 GET_MEASUREMENTS request ‖ MEASUREMENTS response evidence for any nonce.
import { randomBytes, sign } from 'node:crypto';
import { concatBytes, fromHex, sha384 } from '../bytes.js';
import { OID_TCG_DICE_TCB_INFO } from '../nvidia/fwid.js';
import { OPAQUE_FIELD } from '../nvidia/opaque.js';
import { derInteger, derOctetString, derOid, derSequence } from './der-encode.js';
import { issue, type IssuedCertificate, type ValidityWindow } from './test-root.js';

const OID_SHA384 = '2.16.840.1.101.3.4.2.2';
const BLOCKS = 64;
export const DEFAULT_DRIVER_VERSION = '550.90.07';
export const DEFAULT_VBIOS_VERSION = '96.00.9F.00.01';

export interface SimulatedGpuEvidence {
  evidence: Uint8Array;
  /** Leaf first, root last, DER. */
  chain: Uint8Array[];
  chainPem: string;
}

export interface GpuReportRequest {
  /** 32-byte SPDM request nonce. */
  nonce: Uint8Array;
  driverVersion?: string;
  vbiosVersion?: string;
  /** FEATURE_FLAG; null leaves it out (as older drivers do), so CC mode is not shown. */
  ccFeature?: 'spt' | 'mpt' | 'ppcie' | null;
}

/** The Provisioner ICA and GH100 Identity CAs shared by every simulated GPU of one simulated TEE. */
export interface SimulatedGpuCas {
  identity: IssuedCertificate;
  provisioner: IssuedCertificate;
}

export function createGpuCas(root: IssuedCertificate, validity: ValidityWindow): SimulatedGpuCas {
  const identity = issue(root, [['CN', 'Simulated GH100 Identity'], ['O', 'Chrysalis Simulated TEE']], validity, { ca: true });
  const provisioner = issue(identity, [['CN', 'Simulated GH100 Provisioner ICA 1'], ['O', 'Chrysalis Simulated TEE']], validity, { ca: true });
  return { identity, provisioner };
}

/** "96.00.9F.00.01" → the 8 opaque bytes (inverse of nvidia/opaque.ts formatVbiosVersion). */
export function encodeVbiosVersion(version: string): Uint8Array {
  const digits = version.replace(/\./g, '');
  if (!/^[0-9A-Fa-f]{10}$/.test(digits)) throw new Error(`VBIOS version "${version}" is not five dotted hex pairs`);
  const h = `000000${digits.slice(8, 10)}${digits.slice(0, 8)}`;
  return Uint8Array.from(fromHex(h)).reverse();
}

function tlv(type: number, value: Uint8Array): Uint8Array {
  const header = Buffer.alloc(4);
  header.writeUInt16LE(type, 0);
  header.writeUInt16LE(value.length, 2);
  return concatBytes(header, value);
}

function cString(text: string, size = text.length + 1): Uint8Array {
  const out = new Uint8Array(size);
  out.set(Buffer.from(text, 'ascii'));
  return out;
}

export class SimulatedGpu {
  private constructor(
    readonly serial: string,
    readonly leaf: IssuedCertificate,
    readonly brom: IssuedCertificate,
    readonly cas: SimulatedGpuCas,
    readonly root: IssuedCertificate,
    readonly fwid: Uint8Array,
    private readonly measurements: Uint8Array[],
  ) {}

  static create(root: IssuedCertificate, cas: SimulatedGpuCas, validity: ValidityWindow): SimulatedGpu {
    const serial = randomBytes(20).toString('hex').toUpperCase();
    const fwid = sha384(Buffer.from(`simulated GSP firmware ${serial}`));
    const brom = issue(cas.provisioner, [['serialNumber', serial.slice(0, 18)], ['CN', 'GH100 A01 GSP BROM'], ['O', 'Chrysalis Simulated TEE']], validity, { ca: true });
    const tcbInfo = derSequence(derInteger(1), derSequence(derOid(OID_SHA384), derOctetString(fwid)));
    const leaf = issue(brom, [['serialNumber', serial], ['CN', 'GH100 A01 GSP FMC LF'], ['O', 'Chrysalis Simulated TEE']], validity, {
      ca: false,
      extensions: [{ oid: OID_TCG_DICE_TCB_INFO, value: tcbInfo }],
    });
    const measurements = Array.from({ length: BLOCKS }, (_, i) => sha384(Buffer.from(`simulated measurement block ${i + 1}`)));
    return new SimulatedGpu(serial, leaf, brom, cas, root, fwid, measurements);
  }

  /** The measurement block values, hex, block index i + 1 at position i (for reference values in tests). */
  measurementValues(): string[] {
    return this.measurements.map((m) => Buffer.from(m).toString('hex'));
  }

  report(request: GpuReportRequest): SimulatedGpuEvidence {
    if (request.nonce.length !== 32) throw new Error('the SPDM nonce is 32 bytes');
    const requestMsg = concatBytes(new Uint8Array([0x11, 0xe0, 0x01, 0xff]), request.nonce, new Uint8Array([0]));
    const record = concatBytes(
      ...this.measurements.map((digest, i) => {
        const block = Buffer.alloc(7);
        block.writeUInt8(i + 1, 0);
        block.writeUInt8(0x01, 1); // DMTF measurement specification
        block.writeUInt16LE(3 + digest.length, 2);
        block.writeUInt8(0x01, 4); // immutable ROM digest type
        block.writeUInt16LE(digest.length, 5);
        return concatBytes(block, digest);
      }),
    );
    const header = Buffer.alloc(8);
    header.set([0x11, 0x60, 0x00, 0x00, BLOCKS], 0);
    header.writeUIntLE(record.length, 5, 3);
    const fields = [
      tlv(OPAQUE_FIELD.VBIOS_VERSION, encodeVbiosVersion(request.vbiosVersion ?? DEFAULT_VBIOS_VERSION)),
      // GPU_INFO 0x180: a GH100, as in the real H100 reports (nvidia/gpu-model.ts).
      tlv(OPAQUE_FIELD.GPU_INFO, Uint8Array.of(0x80, 0x01, 0, 0, 0, 0, 0, 0)),
      tlv(OPAQUE_FIELD.CHIP_SKU, cString('882', 9)),
      tlv(OPAQUE_FIELD.PROJECT, cString('1010')),
      tlv(OPAQUE_FIELD.PROJECT_SKU, cString('0200')),
      tlv(OPAQUE_FIELD.DRIVER_VERSION, cString(request.driverVersion ?? DEFAULT_DRIVER_VERSION)),
      tlv(OPAQUE_FIELD.FWID, this.fwid),
    ];
    const feature = request.ccFeature === undefined ? 'spt' : request.ccFeature;
    if (feature !== null) fields.push(tlv(OPAQUE_FIELD.FEATURE_FLAG, new Uint8Array([{ spt: 0, mpt: 1, ppcie: 2 }[feature], 0])));
    const opaque = concatBytes(...fields);
    const opaqueLength = Buffer.alloc(2);
    opaqueLength.writeUInt16LE(opaque.length, 0);
    const signed = concatBytes(requestMsg, header, record, new Uint8Array(randomBytes(32)), opaqueLength, opaque);
    const signature = sign('sha384', signed, { key: this.leaf.privateKey, dsaEncoding: 'ieee-p1363' });
    const certs = [this.leaf, this.brom, this.cas.provisioner, this.cas.identity, this.root];
    return { evidence: concatBytes(signed, signature), chain: certs.map((c) => c.der), chainPem: certs.map((c) => c.pem).join('') };
  }
}
