// Intel signs the raw text of the "tcbInfo" / "enclaveIdentity" member of a PCS body. A body with that
// member twice is not something Intel serves: whoever appended the second copy wants the verifier to
// check the signature over one and judge the other. These tests take the real quotes and 2026-03
// collateral from test/vectors/tdx, build such forged copies, and show they are refused.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { collateralFromFiles, type TdxCollateral } from '../../operator/src/attestation/tdx/collateral.js';
import { verifyTdx } from '../../operator/src/attestation/tdx/verify.js';
import { codes, readVector, TDX_TIME, vectorPath } from './vectors.js';

const dir = vectorPath('tdx', 'attestation-rs');
const collateral: TdxCollateral = collateralFromFiles(readdirSync(dir).map((name) => ({ name, bytes: new Uint8Array(readFileSync(`${dir}/${name}`)) })));
/** OutOfDate (11 advisories) under the genuine 50806f000000 TCB info; a debug TD, so debugAllowed. */
const outOfDateQuote = readVector('tdx', 'trustee/tdx_quote_4.dat');
const patchedOnly = { debugAllowed: true, tdx: { acceptedTcbStatuses: ['UpToDate' as const] } };

const genuineTcbInfo = readFileSync(vectorPath('tdx', 'attestation-rs/tcb_info_50806f000000.json'), 'utf8');
const genuineQeIdentity = readFileSync(vectorPath('tdx', 'attestation-rs/td_qe_identity.json'), 'utf8');

/** `{"member":{…},"signature":"…"}` → the same body with a second `"member": forged` appended before the final brace. */
function appendMember(body: string, member: string, forged: unknown): string {
  const end = body.lastIndexOf('}');
  return `${body.slice(0, end)},"${member}":${JSON.stringify(forged)}${body.slice(end)}`;
}

/** Every TCB level UpToDate with no advisories, valid until 2099. */
function forgedTcbInfo(): unknown {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const inner = (JSON.parse(genuineTcbInfo) as any).tcbInfo;
  const everyLevelUpToDate = (levels: { tcbStatus: string; advisoryIDs?: string[] }[]) =>
    levels.map(({ advisoryIDs: _dropped, ...level }) => ({ ...level, tcbStatus: 'UpToDate' }));
  return {
    ...inner,
    nextUpdate: '2099-01-01T00:00:00Z',
    tcbLevels: everyLevelUpToDate(inner.tcbLevels),
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    tdxModuleIdentities: inner.tdxModuleIdentities?.map((m: any) => ({ ...m, tcbLevels: everyLevelUpToDate(m.tcbLevels) })),
  };
}

function withTcbInfo(text: string): TdxCollateral {
  return { ...collateral, tcbInfos: collateral.tcbInfos!.map((t) => (t === genuineTcbInfo ? text : t)) };
}

function withQeIdentity(text: string): TdxCollateral {
  return { ...collateral, qeIdentities: [text] };
}

test('the genuine collateral judges tdx_quote_4 OutOfDate, so a policy accepting only UpToDate rejects it (the baseline)', (t) => {
  t.true(collateral.tcbInfos!.includes(genuineTcbInfo));
  const v = verifyTdx({ quote: outOfDateQuote, collateral }, { now: TDX_TIME, policy: patchedOnly });
  t.is(v.claims.tcbStatus, 'OutOfDate');
  t.is(v.claims.advisoryIds!.length, 11);
  t.deepEqual(codes(v), ['TCB_STATUS_UNACCEPTABLE']);
});

test('a forged tcbInfo appended after Intel\'s signed one does not make an OutOfDate platform UpToDate', (t) => {
  const forged = appendMember(genuineTcbInfo, 'tcbInfo', forgedTcbInfo());
  const v = verifyTdx({ quote: outOfDateQuote, collateral: withTcbInfo(forged) }, { now: TDX_TIME, policy: patchedOnly });
  t.false(v.verified);
  t.not(v.claims.tcbStatus, 'UpToDate');
  t.deepEqual(codes(v), ['COLLATERAL_INVALID']);
  t.regex(v.reasons[0]!.message, /"tcbInfo" appears twice/);
});

test('a forged tcbInfo placed before Intel\'s signed one is refused the same way', (t) => {
  const forged = genuineTcbInfo.replace('{"tcbInfo":', `{"tcbInfo":${JSON.stringify(forgedTcbInfo())},"tcbInfo":`);
  const v = verifyTdx({ quote: outOfDateQuote, collateral: withTcbInfo(forged) }, { now: TDX_TIME, policy: patchedOnly });
  t.deepEqual(codes(v), ['COLLATERAL_INVALID']);
});

test('a duplicated member inside the signed tcbInfo text is refused even though the signature covers it', (t) => {
  // Intel never signs such a document; if one appeared, which copy JSON.parse keeps is not ours to guess.
  const inner = genuineTcbInfo.slice('{"tcbInfo":'.length, genuineTcbInfo.lastIndexOf(',"signature"'));
  const doubled = genuineTcbInfo.replace(inner, inner.replace('"id":"TDX",', '"id":"TDX","id":"TDX",'));
  const v = verifyTdx({ quote: outOfDateQuote, collateral: withTcbInfo(doubled) }, { now: TDX_TIME, policy: { debugAllowed: true } });
  t.deepEqual(codes(v), ['COLLATERAL_INVALID']);
  t.regex(v.reasons[0]!.message, /"id" appears twice/);
});

test('a forged enclaveIdentity appended after Intel\'s signed one is not the identity the quoting enclave is judged against', (t) => {
  // A rogue QE's MRSIGNER: with the forged identity judged, the genuine Intel QE would stop matching and
  // a QE signed by this key would start to.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const inner = (JSON.parse(genuineQeIdentity) as any).enclaveIdentity;
  const forged = appendMember(genuineQeIdentity, 'enclaveIdentity', { ...inner, mrsigner: 'AA'.repeat(32), nextUpdate: '2099-01-01T00:00:00Z' });
  const v = verifyTdx({ quote: outOfDateQuote, collateral: withQeIdentity(forged) }, { now: TDX_TIME, policy: { debugAllowed: true } });
  t.false(v.verified);
  t.deepEqual(codes(v), ['COLLATERAL_INVALID']);
  t.regex(v.reasons[0]!.message, /"enclaveIdentity" appears twice/);
});

test('a forged enclaveIdentity with a far nextUpdate does not keep an expired QE identity current', (t) => {
  // 2026-04-15T22:20Z: Intel's TD_QE identity expired at 22:16:03, the TCB info (22:21:30) and CRLs are
  // still current, so the genuine collateral is refused for the stale identity alone.
  const now = new Date('2026-04-15T22:20:00Z');
  t.deepEqual(codes(verifyTdx({ quote: outOfDateQuote, collateral }, { now, policy: { debugAllowed: true } })), ['COLLATERAL_INVALID']);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const inner = (JSON.parse(genuineQeIdentity) as any).enclaveIdentity;
  const forged = appendMember(genuineQeIdentity, 'enclaveIdentity', { ...inner, nextUpdate: '2099-01-01T00:00:00Z' });
  const v = verifyTdx({ quote: outOfDateQuote, collateral: withQeIdentity(forged) }, { now, policy: { debugAllowed: true } });
  t.false(v.verified);
  t.deepEqual(codes(v), ['COLLATERAL_INVALID']);
});

test('trailing data after a signed PCS body is refused', (t) => {
  const v = verifyTdx({ quote: outOfDateQuote, collateral: withTcbInfo(`${genuineTcbInfo} {"tcbInfo":{}}`) }, { now: TDX_TIME, policy: { debugAllowed: true } });
  t.deepEqual(codes(v), ['COLLATERAL_INVALID']);
});

test('a PCS body with a member besides the signed one and its signature is refused', (t) => {
  const v = verifyTdx({ quote: outOfDateQuote, collateral: withTcbInfo(appendMember(genuineTcbInfo, 'note', 'x')) }, { now: TDX_TIME, policy: { debugAllowed: true } });
  t.deepEqual(codes(v), ['COLLATERAL_INVALID']);
});

test('a TCB info edited after signing puts no TCB status from the edited text in the claims', (t) => {
  // Only signed text is judged: the edit (every level UpToDate) must not surface as a claim either.
  const edited = genuineTcbInfo.replace(/"tcbStatus":"OutOfDate"/g, '"tcbStatus":"UpToDate"');
  t.not(edited, genuineTcbInfo);
  const v = verifyTdx({ quote: outOfDateQuote, collateral: withTcbInfo(edited) }, { now: TDX_TIME, policy: { debugAllowed: true } });
  t.deepEqual(codes(v), ['COLLATERAL_INVALID']);
  t.is(v.claims.tcbStatus, undefined);
  t.is(v.claims.advisoryIds, undefined);
});
