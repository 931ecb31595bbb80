// `chrysalis attest verify`: verify one piece of TEE evidence offline with the operator's verifier.
// The verifier is pure; this command does the file I/O. Exit codes (scripts rely on them):
//   0  verified and the policy passed
//   1  rejected: the reasons are printed (also for evidence that does not parse: MALFORMED_EVIDENCE)
//   2  unusable input: a missing/unreadable file, a bad flag value, an invalid policy (one-line message)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { parse as parseYaml } from 'yaml';
import { AttestationError } from '../../../operator/src/attestation/reasons.js';
import { DEFAULT_POLICY, parsePolicy, unconstrainedChecks, type VerifierPolicy } from '../../../operator/src/attestation/policy.js';
import { collateralFromFiles } from '../../../operator/src/attestation/tdx/collateral.js';
import { verifyEvidence, type EvidenceInput } from '../../../operator/src/attestation/verify.js';
import type { Verdict } from '../../../operator/src/attestation/verdict.js';

const TYPES = ['sev-snp', 'tdx', 'nvidia-gpu'] as const;
type EvidenceTypeFlag = (typeof TYPES)[number];

interface VerifyFlags {
  type: EvidenceTypeFlag;
  evidence: string;
  cert?: string;
  chain?: string;
  collateral?: string;
  nonce?: string;
  at?: string;
  policy?: string;
  output: 'json' | 'table';
}

/** An input problem: printed as one line by the CLI entry point, exit code 2. */
class UsageError extends Error {}

function readInput(path: string, flag: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`${flag} ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, expected a file' : `cannot be read (${code ?? 'error'})`}`);
  }
}

function readCollateralDir(dir: string): ReturnType<typeof collateralFromFiles> {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new UsageError(`--collateral ${dir}: not a directory`);
    names = readdirSync(dir).sort();
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--collateral ${dir}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const files = names.filter((n) => statSync(join(dir, n)).isFile()).map((name) => ({ name, bytes: readInput(join(dir, name), '--collateral') }));
  try {
    return collateralFromFiles(files);
  } catch (err) {
    throw new UsageError(`--collateral ${dir}: ${(err as Error).message}`);
  }
}

function parseNonce(text: string, type: EvidenceTypeFlag): Uint8Array {
  const hex = text.trim().replace(/^0x/i, '');
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) throw new UsageError(`--nonce must be hex with an even number of digits, got "${text}"`);
  const bytes = new Uint8Array(Buffer.from(hex, 'hex'));
  if (type === 'nvidia-gpu' && bytes.length !== 32) throw new UsageError(`--nonce for nvidia-gpu is the 32-byte SPDM request nonce (64 hex digits), got ${bytes.length} bytes`);
  if (type !== 'nvidia-gpu' && bytes.length > 64) throw new UsageError(`--nonce for ${type} is at most 64 bytes (report_data), got ${bytes.length}`);
  return bytes;
}

function parseAt(text: string | undefined): Date {
  if (text === undefined) return new Date();
  const date = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(date.getTime())) throw new UsageError(`--at must be an ISO-8601 time such as 2025-06-01T00:00:00Z, got "${text}"`);
  return date;
}

function readPolicy(path: string | undefined): VerifierPolicy | undefined {
  if (path === undefined) return undefined;
  const text = Buffer.from(readInput(path, '--policy')).toString('utf8');
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new UsageError(`--policy ${path}: not valid YAML (${(err as Error).message.split('\n')[0]})`);
  }
  try {
    return parsePolicy(doc);
  } catch (err) {
    if (err instanceof AttestationError) throw new UsageError(`--policy ${path}: ${err.message}`);
    throw err;
  }
}

function buildInput(flags: VerifyFlags): EvidenceInput {
  const evidence = readInput(flags.evidence, '--evidence');
  switch (flags.type) {
    case 'sev-snp': {
      if (flags.collateral) throw new UsageError('--collateral applies to --type tdx only');
      const input: EvidenceInput = { type: 'sev-snp', evidence };
      if (flags.cert) input.cert = readInput(flags.cert, '--cert');
      if (flags.chain) input.chain = readInput(flags.chain, '--chain');
      return input;
    }
    case 'tdx': {
      if (flags.cert || flags.chain) throw new UsageError('--cert and --chain do not apply to --type tdx (the PCK chain is inside the quote); use --collateral DIR');
      return flags.collateral ? { type: 'tdx', evidence, collateral: readCollateralDir(flags.collateral) } : { type: 'tdx', evidence };
    }
    case 'nvidia-gpu': {
      if (!flags.chain) throw new UsageError('--chain PEM is required for --type nvidia-gpu (the GPU device certificate chain, leaf first)');
      if (flags.cert || flags.collateral) throw new UsageError('--cert and --collateral do not apply to --type nvidia-gpu');
      return { type: 'nvidia-gpu', evidence, chain: readInput(flags.chain, '--chain') };
    }
  }
}

const TABLE_CLAIMS = ['measurement', 'mrTd', 'rtmrs', 'imageHash', 'reportData', 'nonce', 'chipId', 'deviceId', 'tcb', 'tcbStatus', 'driverVersion', 'vbiosVersion', 'ccMode', 'generation', 'signingKey', 'vmpl', 'debug', 'root', 'simulated'];

function renderTable(v: Verdict<object>): string {
  const lines = [`verified:  ${v.verified ? 'yes' : 'no'}`, `type:      ${v.type}`];
  const claims = v.claims as Record<string, unknown>;
  for (const key of TABLE_CLAIMS) {
    if (claims[key] === undefined) continue;
    const value = typeof claims[key] === 'object' ? JSON.stringify(claims[key]) : String(claims[key]);
    lines.push(`${`${key}:`.padEnd(15)}${value}`);
  }
  if (v.reasons.length) {
    lines.push('reasons:');
    for (const r of v.reasons) lines.push(`  ${r.code}  ${r.message}`);
  }
  return `${lines.join('\n')}\n`;
}

async function runVerify(flags: VerifyFlags): Promise<void> {
  const input = buildInput(flags);
  // Without --policy the evidence is checked against no policy, explicitly: the output names every
  // check that then accepted any value, so "verified" is never read as "verified against a policy".
  const policy = readPolicy(flags.policy) ?? DEFAULT_POLICY;
  const options = {
    now: parseAt(flags.at),
    ...(flags.nonce !== undefined ? { nonce: parseNonce(flags.nonce, flags.type) } : {}),
    policy,
  };
  const verdict = verifyEvidence(input, options);
  const unconstrained = unconstrainedChecks(policy, flags.type);
  if (flags.output === 'json') {
    process.stdout.write(`${JSON.stringify({ verified: verdict.verified, type: verdict.type, claims: verdict.claims, reasons: verdict.reasons, unconstrained })}\n`);
  } else {
    process.stdout.write(renderTable(verdict));
    if (unconstrained.length) process.stdout.write(`unconstrained: ${unconstrained.join(', ')} (${flags.policy ? 'the policy does not constrain these' : 'no --policy: any value passed these checks'})\n`);
  }
  process.exitCode = verdict.verified ? 0 : 1;
}

export function registerAttestCommand(program: Command): void {
  const attest = program.command('attest').description('Verify TEE attestation evidence (SEV-SNP, TDX, NVIDIA H100) offline');
  attest
    .command('verify')
    .description('Verify one evidence file against the pinned vendor roots and a policy.\nExit 0: verified; 1: rejected (reasons printed); 2: unusable input.')
    .addOption(new Option('--type <type>', 'evidence family').choices([...TYPES]).makeOptionMandatory())
    .requiredOption('--evidence <file>', 'evidence: raw binary, hex or base64 text (SNP report or Azure HCL report, TDX quote, SPDM request‖response)')
    .option('--cert <file>', 'sev-snp: the VCEK or VLEK (DER or PEM; a PEM bundle may carry the ASK/ARK after it)')
    .option('--chain <file>', 'sev-snp: ASK/ASVK+ARK PEM bundle (optional: AMD chains ship with the verifier); nvidia-gpu: the device chain PEM (required)')
    .option('--collateral <dir>', "tdx: Intel PCS TCB info and QE identity JSON, the TCB signing chain PEM, CRLs (DER)")
    .option('--nonce <hex>', 'expected freshness: SNP/TDX report_data (zero-padded to 64 bytes); GPU 32-byte SPDM request nonce')
    .option('--at <time>', 'verification time, ISO-8601 (default: now)')
    .option('--policy <file>', 'AttestationPolicy YAML (the resource or its spec); without it only vendor roots, signatures, debug and TDX collateral are checked, and the output lists the unconstrained checks')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['json', 'table']).default('table'))
    .action(async (flags: VerifyFlags) => {
      await runVerify(flags);
    });
}
