// Simulated SEV-SNP: a "platform" with its own ASK and VCEK (carrying AMD's VCEK extensions) under the
// simulated root, which writes byte-exact SNP reports (v3 layout, 0x4A0 bytes) for any report_data.
import { randomBytes, sign } from 'node:crypto';
import { sha384 } from '../bytes.js';
import { expectedReportData } from '../freshness.js';
import { SNP_REPORT_SIZE, SNP_SIGNED_END } from '../sev-snp/report.js';
import { AMD_OID } from '../sev-snp/vcek.js';
import { derInteger, derIa5String } from './der-encode.js';
import { issue, type IssuedCertificate, type ValidityWindow } from './test-root.js';

export interface SimulatedSnpOptions {
  /** Milan-layout reported TCB (defaults: bootloader 3, tee 0, snp 8, microcode 115). */
  tcb?: { bootloader: number; tee: number; snp: number; microcode: number };
  chipId?: Uint8Array;
}

export interface SnpReportRequest {
  /** The caller's nonce; with publicKey, report_data = SHA-512(nonce ‖ publicKey), otherwise nonce padded. */
  nonce?: Uint8Array;
  publicKey?: Uint8Array;
  /** Explicit report_data (overrides nonce/publicKey). */
  reportData?: Uint8Array;
  measurement?: Uint8Array;
  /** Guest policy (default 0x30000: SMT allowed, reserved bit 17, no debug). */
  policy?: bigint;
  vmpl?: number;
  guestSvn?: number;
}

export interface SimulatedSnpEvidence {
  report: Uint8Array;
  /** VCEK, DER. */
  vcek: Uint8Array;
  /** ASK then root, DER. */
  chain: Uint8Array[];
  chainPem: string;
}

/** The default simulated launch measurement: SHA-384 of a fixed label. */
export const SIMULATED_MEASUREMENT = sha384(Buffer.from('chrysalis simulated guest image v1'));

export class SimulatedSnpPlatform {
  private constructor(
    readonly root: IssuedCertificate,
    readonly ask: IssuedCertificate,
    readonly vcek: IssuedCertificate,
    readonly chipId: Uint8Array,
    readonly tcb: Required<SimulatedSnpOptions>['tcb'],
  ) {}

  static create(root: IssuedCertificate, validity: ValidityWindow, options: SimulatedSnpOptions = {}): SimulatedSnpPlatform {
    const tcb = options.tcb ?? { bootloader: 3, tee: 0, snp: 8, microcode: 115 };
    const chipId = options.chipId ?? new Uint8Array(randomBytes(64));
    const ask = issue(root, [['CN', 'SEV-Simulated'], ['O', 'Chrysalis Simulated TEE']], validity, { ca: true });
    const vcek = issue(ask, [['CN', 'SEV-VCEK'], ['O', 'Chrysalis Simulated TEE']], validity, {
      ca: false,
      extensions: [
        { oid: AMD_OID.structVersion, value: derInteger(0) },
        { oid: AMD_OID.productName, value: derIa5String('Milan-B0') },
        { oid: AMD_OID.blSPL, value: derInteger(tcb.bootloader) },
        { oid: AMD_OID.teeSPL, value: derInteger(tcb.tee) },
        { oid: AMD_OID.snpSPL, value: derInteger(tcb.snp) },
        { oid: AMD_OID.ucodeSPL, value: derInteger(tcb.microcode) },
        // hwID is the raw chip id, as AMD encodes it.
        { oid: AMD_OID.hwID, value: chipId },
      ],
    });
    return new SimulatedSnpPlatform(root, ask, vcek, chipId, tcb);
  }

  /** A signed report in the real byte format (ABI spec Table 22; v3 with Milan CPUID 19h/01h/1). */
  report(request: SnpReportRequest = {}): SimulatedSnpEvidence {
    const report = new Uint8Array(SNP_REPORT_SIZE);
    const view = Buffer.from(report.buffer);
    const tcb = new Uint8Array([this.tcb.bootloader, this.tcb.tee, 0, 0, 0, 0, this.tcb.snp, this.tcb.microcode]);
    const reportData = request.reportData ?? (request.nonce ? expectedReportData(request.nonce, request.publicKey) : new Uint8Array(64));
    view.writeUInt32LE(3, 0x000);
    view.writeUInt32LE(request.guestSvn ?? 1, 0x004);
    view.writeBigUInt64LE(request.policy ?? 0x30000n, 0x008);
    view.writeUInt32LE(request.vmpl ?? 0, 0x030);
    view.writeUInt32LE(1, 0x034); // ECDSA P-384 with SHA-384
    report.set(tcb, 0x038); // current_tcb
    view.writeBigUInt64LE(1n, 0x040); // platform_info: SMT enabled
    view.writeUInt32LE(0, 0x048); // flags: signed by the VCEK
    report.set(reportData, 0x050);
    report.set(request.measurement ?? SIMULATED_MEASUREMENT, 0x090);
    report.set(randomBytes(32), 0x140); // report_id
    report.set(tcb, 0x180); // reported_tcb
    report.set([0x19, 0x01, 0x01], 0x188); // CPUID family/model/stepping: Milan
    report.set(this.chipId, 0x1a0);
    report.set(tcb, 0x1e0); // committed_tcb
    report.set(tcb, 0x1f0); // launch_tcb
    const signature = sign('sha384', report.subarray(0, SNP_SIGNED_END), { key: this.vcek.privateKey, dsaEncoding: 'ieee-p1363' });
    // r and s are stored little-endian in 72-byte fields (upper 24 bytes zero).
    report.set(Uint8Array.from(signature.subarray(0, 48)).reverse(), 0x2a0);
    report.set(Uint8Array.from(signature.subarray(48, 96)).reverse(), 0x2e8);
    return { report, vcek: this.vcek.der, chain: [this.ask.der, this.root.der], chainPem: this.ask.pem + this.root.pem };
  }
}
