// Where CPU TEE evidence comes from. The attester computes report_data and asks its source for a report
// carrying it; the source turns whatever the platform returns into the wire protocol's CpuEvidence.
import type { CpuEvidence } from '../../../operator/src/attestation/service/protocol.js';
import { parseCertTable } from './cert-table.js';
import { requireTsm, tsmReport, type TsmOptions } from './tsm.js';

export interface CpuEvidenceSource {
  /** Short name for logs and `--print` ("tsm", "simulated"). */
  readonly name: string;
  /** A report whose report_data is exactly `reportData` (64 bytes). */
  collect(reportData: Uint8Array): Promise<CpuEvidence>;
  /** Cheap check that the source can work at all (the CLI runs it before contacting the service). */
  preflight?(): Promise<void>;
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

/** PEM text for one certificate that may already be PEM (hosts differ) or DER. */
export function certificateAsPem(cert: Uint8Array): string {
  const text = Buffer.from(cert).toString('latin1');
  if (text.includes('-----BEGIN CERTIFICATE-----')) return `${text.replace(/\0+$/, '').trim()}\n`;
  const lines = b64(cert).match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/** DER for one certificate that may be stored as PEM. */
function certificateAsDer(cert: Uint8Array): Uint8Array {
  const text = Buffer.from(cert).toString('latin1');
  const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(text);
  return m ? new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')) : cert;
}

/** Turns a raw TSM result into protocol evidence (SNP report + certificates, or a TDX quote). */
export function cpuEvidenceFromTsm(provider: 'sev_guest' | 'tdx_guest', outblob: Uint8Array, auxblob: Uint8Array): CpuEvidence {
  if (provider === 'tdx_guest') return { type: 'tdx', quote: b64(outblob) };
  const { certs } = parseCertTable(auxblob);
  // The report says which key signed it; the host supplies the matching one. VLEK hosts have no VCEK.
  const signer = certs.vcek ?? certs.vlek;
  const chain = [certs.ask, certs.ark].filter((c): c is Uint8Array => c !== undefined).map(certificateAsPem).join('');
  return {
    type: 'sev-snp',
    report: b64(outblob),
    ...(signer ? { vcek: b64(certificateAsDer(signer)) } : {}),
    ...(chain ? { chain } : {}),
  };
}

/** Real hardware (or anything laid out like it): configfs TSM. */
export class TsmCpuSource implements CpuEvidenceSource {
  readonly name = 'tsm';
  /** Tries the last report took; tests read it to see a race was retried. */
  lastAttempts = 0;
  constructor(private readonly options: TsmOptions = {}) {}

  preflight(): Promise<void> {
    return requireTsm(this.options);
  }

  async collect(reportData: Uint8Array): Promise<CpuEvidence> {
    const report = await tsmReport(reportData, this.options);
    this.lastAttempts = report.attempts;
    return cpuEvidenceFromTsm(report.provider, report.outblob, report.auxblob);
  }
}
