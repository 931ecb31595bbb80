// `npm run bench -- attestation [--quick]`: full verifications per second per evidence family on one core
// (this process), against OpenSSL's raw ECDSA verify rate measured in the same run (`openssl speed`,
// single process). The headline ratio is SEV-SNP verifications/s ÷ OpenSSL P-384 verifies/s: an SNP
// verification is one P-384 verify plus parsing, chain and policy work, so the ratio shows the overhead.
// Caches hold only facts about exact bytes (parsed certificates, verified certificate signatures), never a
// verdict; the "cold" figure clears them before every verification.
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchOptions, BenchResult } from './run.js';
import { fromHex } from '../../operator/src/attestation/bytes.js';
import { decodeCertificates } from '../../operator/src/attestation/evidence-input.js';
import { verifySevSnp } from '../../operator/src/attestation/sev-snp/verify.js';
import { verifyTdx } from '../../operator/src/attestation/tdx/verify.js';
import { collateralFromFiles } from '../../operator/src/attestation/tdx/collateral.js';
import { verifyNvidiaGpu } from '../../operator/src/attestation/nvidia/verify.js';
import { clearCertificateCaches } from '../../operator/src/attestation/x509.js';
import { VECTORS } from '../attestation/vectors.js';

function rate(seconds: number, fn: () => void): number {
  for (let i = 0; i < 20; i++) fn(); // warm-up (JIT, caches)
  const deadline = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  const start = process.hrtime.bigint();
  let n = 0;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 10; i++) fn();
    n += 10;
    now = process.hrtime.bigint();
  }
  return n / (Number(now - start) / 1e9);
}

function mustVerify(v: { verified: boolean; reasons: { code: string; message: string }[] }, what: string): void {
  if (!v.verified) throw new Error(`${what} did not verify in the benchmark: ${JSON.stringify(v.reasons)}`);
}

/** Verify/s for nistp256 and nistp384 from `openssl speed -elapsed` (one process: one core). */
function opensslSpeed(seconds: number): { p256: number; p384: number; version: string } {
  const r = spawnSync('openssl', ['speed', '-seconds', String(seconds), '-elapsed', 'ecdsap384', 'ecdsap256'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl speed failed: ${r.stderr}`);
  const verifyRate = (bits: number): number => {
    const line = r.stdout.split('\n').find((l) => new RegExp(`^\\s*${bits} bits ecdsa \\(nistp${bits}\\)`).test(l));
    const fields = line?.trim().split(/\s+/);
    const value = Number(fields?.[fields.length - 1]);
    if (!Number.isFinite(value)) throw new Error(`cannot read the nistp${bits} verify rate from openssl speed`);
    return value;
  };
  const version = spawnSync('openssl', ['version'], { encoding: 'utf8' }).stdout.trim();
  return { p256: verifyRate(256), p384: verifyRate(384), version };
}

export default async function attestationBench(opts: BenchOptions): Promise<BenchResult> {
  const seconds = opts.quick ? 2 : 5;
  const snpDir = join(VECTORS, 'sev-snp');
  const report = new Uint8Array(readFileSync(join(snpDir, 'trustee/test-report.bin')));
  const vcek = decodeCertificates(new Uint8Array(readFileSync(join(snpDir, 'trustee/test-vcek.der'))));
  const snpTime = new Date('2025-06-01T00:00:00Z');
  const nonce = fromHex('ec6c52d7533cc2c4f45be7849cf112ab82b2009fe7bd43e71ed08c14400ad7e2');
  const snp = () => verifySevSnp({ report, certificates: vcek }, { now: snpTime, nonce });
  mustVerify(snp(), 'SEV-SNP');

  const tdxDir = join(VECTORS, 'tdx');
  const quote = new Uint8Array(readFileSync(join(tdxDir, 'go-tdx-guest/quote_v5_sample.dat')));
  const collDir = join(tdxDir, 'attestation-rs');
  const collateral = collateralFromFiles(readdirSync(collDir).map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(collDir, name))) })));
  const tdxTime = new Date('2026-03-20T00:00:00Z');
  const tdx = () => verifyTdx({ quote, collateral }, { now: tdxTime });
  mustVerify(tdx(), 'TDX');

  const gpuDir = join(VECTORS, 'nvidia-h100');
  const evidence = fromHex(readFileSync(join(gpuDir, 'nvtrust/hopperAttestationReport.txt'), 'utf8'));
  const chain = decodeCertificates(readFileSync(join(gpuDir, 'nvtrust/hopperCertChain.txt'), 'utf8'));
  const gpuNonce = fromHex('931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb');
  const gpu = () => verifyNvidiaGpu({ evidence, chain }, { now: snpTime, nonce: gpuNonce });
  mustVerify(gpu(), 'NVIDIA H100');

  // The raw primitive through node:crypto (same OpenSSL library), for context.
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const message = report.subarray(0, 0x2a0);
  const signature = sign('sha384', message, privateKey);
  const nodeP384 = rate(seconds, () => verify('sha384', message, publicKey, signature));

  const snpWarm = rate(seconds, snp);
  const snpCold = rate(seconds, () => {
    clearCertificateCaches();
    snp();
  });
  const tdxWarm = rate(seconds, tdx);
  const gpuWarm = rate(seconds, gpu);
  const openssl = opensslSpeed(seconds);

  const ratio = snpWarm / openssl.p384;
  const fmt = (n: number) => n.toFixed(0).padStart(7);
  process.stdout.write(
    [
      `attestation verifications per second, one core (${seconds}s per figure, ${openssl.version})`,
      `  openssl speed ecdsap384 verify   ${fmt(openssl.p384)} /s   (baseline)`,
      `  openssl speed ecdsap256 verify   ${fmt(openssl.p256)} /s`,
      `  node:crypto P-384 verify         ${fmt(nodeP384)} /s`,
      `  SEV-SNP full verification        ${fmt(snpWarm)} /s   ratio to OpenSSL P-384 ${(snpWarm / openssl.p384).toFixed(2)}`,
      `  SEV-SNP, caches cleared each     ${fmt(snpCold)} /s   ratio to OpenSSL P-384 ${(snpCold / openssl.p384).toFixed(2)}`,
      `  TDX full verification+collateral ${fmt(tdxWarm)} /s   (6 P-256 verifies each: quote, QE report, TCB info, QE identity, 2 CRLs; ratio to OpenSSL P-256 ${(tdxWarm / openssl.p256).toFixed(2)})`,
      `  NVIDIA H100 full verification    ${fmt(gpuWarm)} /s   ratio to OpenSSL P-384 ${(gpuWarm / openssl.p384).toFixed(2)}`,
      '',
    ].join('\n'),
  );
  return {
    bench: 'attestation',
    metric: 'snp_verifications_per_second',
    unit: 'verifications/s',
    ours: Number(snpWarm.toFixed(1)),
    baseline: openssl.p384,
    ratio: Number(ratio.toFixed(3)),
    params: {
      quick: opts.quick,
      secondsPerFigure: seconds,
      snpColdPerSecond: Number(snpCold.toFixed(1)),
      tdxPerSecond: Number(tdxWarm.toFixed(1)),
      gpuPerSecond: Number(gpuWarm.toFixed(1)),
      nodeP384VerifyPerSecond: Number(nodeP384.toFixed(1)),
      opensslP256VerifyPerSecond: openssl.p256,
      openssl: openssl.version,
    },
  };
}
