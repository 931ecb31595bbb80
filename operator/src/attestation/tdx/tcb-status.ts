// TDX TCB status from the quote's SVNs and Intel's TCB info (Intel "TDX DCAP Quote Verification" and
// the PCS TCB info v3 definition). The first TCB level (Intel lists them newest first) whose SGX
// components and PCESVN are all ≤ the PCK certificate's and whose TDX components are all ≤ the quote's
// TEE_TCB_SVN is the platform's level. When TEE_TCB_SVN[1] (the TDX module major version) is non-zero, the
// first two TDX components are judged by the TDX module identity "TDX_<major>" instead, and its status is
// folded in. The QE identity's status is folded in the same way.
import { bytesEqual, fromHex, toHex } from '../bytes.js';
import type { ModuleTcbLevel, QeIdentity, TcbInfo, TcbLevel } from './collateral.js';
import type { PckInfo } from './pck.js';
import type { QeReport, TdReportBody } from './quote.js';

export interface TcbStatusResult {
  /** UpToDate, SWHardeningNeeded, ConfigurationNeeded, ConfigurationAndSWHardeningNeeded, OutOfDate,
   *  OutOfDateConfigurationNeeded, Revoked, or Unrecognized when no level matches. */
  status: string;
  tcbDate?: string;
  advisoryIds: string[];
  moduleStatus?: string;
  qeStatus?: string;
  /** False when the QE report does not match Intel's QE identity (QE_IDENTITY_MISMATCH). */
  qeIdentityMatches: boolean;
  /** Why the status is "Unrecognized", for messages. */
  problems: string[];
}

export function matchPlatformLevel(info: TcbInfo, pck: PckInfo, teeTcbSvn: Uint8Array): TcbLevel | undefined {
  const start = teeTcbSvn[1]! > 0 ? 2 : 0;
  return info.tcbLevels.find((level) => {
    const sgx = level.tcb.sgxtcbcomponents;
    const tdx = level.tcb.tdxtcbcomponents;
    if (!Array.isArray(sgx) || sgx.length !== 16 || !Array.isArray(tdx) || tdx.length !== 16) return false;
    if (!sgx.every((c, i) => pck.cpuSvnComponents[i]! >= c.svn)) return false;
    if (pck.pceSvn < level.tcb.pcesvn) return false;
    for (let i = start; i < 16; i++) if (teeTcbSvn[i]! < tdx[i]!.svn) return false;
    return true;
  });
}

function firstLevelAtOrBelow(levels: ModuleTcbLevel[], svn: number): ModuleTcbLevel | undefined {
  return levels.find((l) => l.tcb.isvsvn <= svn);
}

/** Folds a component's OutOfDate/Revoked status into the platform status (Intel's convergence rules). */
function converge(platform: string, component: string | undefined): string {
  if (!component || component === 'UpToDate') return platform;
  if (component === 'Revoked') return 'Revoked';
  if (component === 'OutOfDate') {
    if (platform === 'UpToDate' || platform === 'SWHardeningNeeded') return 'OutOfDate';
    if (platform === 'ConfigurationNeeded' || platform === 'ConfigurationAndSWHardeningNeeded') return 'OutOfDateConfigurationNeeded';
  }
  return platform;
}

function maskedEqual(actual: Uint8Array, expectedHex: string, maskHex: string): boolean {
  const expected = fromHex(expectedHex);
  const mask = fromHex(maskHex);
  if (expected.length !== actual.length || mask.length !== actual.length) return false;
  return actual.every((b, i) => (b & mask[i]!) === expected[i]);
}

export function computeTcbStatus(info: TcbInfo, qeIdentity: QeIdentity, pck: PckInfo, body: TdReportBody, qe: QeReport): TcbStatusResult {
  const problems: string[] = [];
  const level = matchPlatformLevel(info, pck, body.teeTcbSvn);
  if (!level) {
    problems.push('no TCB level in the TCB info matches the platform SVNs');
    return { status: 'Unrecognized', advisoryIds: [], qeIdentityMatches: true, problems };
  }
  let status = level.tcbStatus;
  const advisoryIds = new Set(level.advisoryIDs ?? []);

  let moduleStatus: string | undefined;
  const major = body.teeTcbSvn[1]!;
  if (major > 0) {
    const id = `TDX_${major.toString(16).toUpperCase().padStart(2, '0')}`;
    const identity = info.tdxModuleIdentities?.find((m) => m.id.toUpperCase() === id);
    if (!identity) {
      problems.push(`TCB info has no TDX module identity ${id}`);
      moduleStatus = 'Unrecognized';
    } else if (!bytesEqual(fromHex(identity.mrsigner), body.mrSignerSeam) || !maskedEqual(body.seamAttributes, identity.attributes, identity.attributesMask)) {
      problems.push(`the TDX module (MRSIGNER_SEAM ${toHex(body.mrSignerSeam).slice(0, 16)}…) does not match identity ${id}`);
      moduleStatus = 'Unrecognized';
    } else {
      const m = firstLevelAtOrBelow(identity.tcbLevels, body.teeTcbSvn[0]!);
      if (!m) {
        problems.push(`TDX module SVN ${body.teeTcbSvn[0]} is below every level of ${id}`);
        moduleStatus = 'Unrecognized';
      } else {
        moduleStatus = m.tcbStatus;
        for (const a of m.advisoryIDs ?? []) advisoryIds.add(a);
      }
    }
  } else if (info.tdxModule) {
    if (!bytesEqual(fromHex(info.tdxModule.mrsigner), body.mrSignerSeam) || !maskedEqual(body.seamAttributes, info.tdxModule.attributes, info.tdxModule.attributesMask)) {
      problems.push('the TDX module does not match the TCB info tdxModule identity');
      moduleStatus = 'Unrecognized';
    }
  }

  let qeStatus: string | undefined;
  const qeMatches =
    bytesEqual(fromHex(qeIdentity.mrsigner), qe.mrSigner) &&
    qeIdentity.isvprodid === qe.isvProdId &&
    // MISCSELECT is a u32 in the report and a big-endian hex number in the JSON.
    ((qe.miscSelect & Number.parseInt(qeIdentity.miscselectMask, 16)) >>> 0) === Number.parseInt(qeIdentity.miscselect, 16) >>> 0 &&
    maskedEqual(qe.attributes, qeIdentity.attributes, qeIdentity.attributesMask);
  if (qeMatches) {
    const q = firstLevelAtOrBelow(qeIdentity.tcbLevels, qe.isvSvn);
    if (!q) {
      problems.push(`QE ISVSVN ${qe.isvSvn} is below every QE identity level`);
      qeStatus = 'Unrecognized';
    } else {
      qeStatus = q.tcbStatus;
      for (const a of q.advisoryIDs ?? []) advisoryIds.add(a);
    }
  }

  if (moduleStatus === 'Unrecognized' || qeStatus === 'Unrecognized') status = 'Unrecognized';
  else status = converge(converge(status, moduleStatus), qeStatus);
  const result: TcbStatusResult = { status, tcbDate: level.tcbDate, advisoryIds: [...advisoryIds].sort(), qeIdentityMatches: qeMatches, problems };
  if (moduleStatus !== undefined) result.moduleStatus = moduleStatus;
  if (qeStatus !== undefined) result.qeStatus = qeStatus;
  return result;
}
