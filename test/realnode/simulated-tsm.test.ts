// The harness's simulated configfs-TSM device (dev/cluster/simulated-tsm.ts): a FUSE mount that another
// process — here the attester CLI, as in the attester Pod — uses through the configfs-tsm file protocol,
// and whose reports the project's verifier accepts as simulated under a policy trusting the harness's
// simulated root, and only then. Needs root and /dev/fuse; fails, not skips, without them.
import test from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { mountSimulatedTsm, type SimulatedTsm } from '../../dev/cluster/simulated-tsm.js';
import { verifyEvidenceBundle } from '../../operator/src/attestation/bundle.js';
import type { EvidenceRequest } from '../../operator/src/attestation/service/protocol.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import { repoRoot } from '../images/podman-service.js';

const run = promisify(execFile);
const tee = SimulatedTee.create({ gpus: 1 });
let dir: string;
let tsm: SimulatedTsm;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'chrysalis-tsm-test-'));
  tsm = await mountSimulatedTsm(join(dir, 'tsm'), tee);
});

test.after.always(async () => {
  await tsm?.unmount();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A shell in another process: this one serves the mount and must not wait on it. */
const shell = async (script: string) => (await run('sh', ['-c', script])).stdout;

test.serial('configfs-tsm file protocol: mkdir makes the attributes, inblob and privlevel writes bump generation, rmdir releases', async (t) => {
  const entry = join(tsm.path, 'report', 'probe');
  const out = await shell([
    `mkdir ${entry}`,
    `ls ${entry} | sort | tr '\\n' ' '; echo`,
    `cat ${entry}/provider ${entry}/generation`,
    `printf 'abc' > ${entry}/inblob`,
    `cat ${entry}/generation`,
    `echo 1 > ${entry}/privlevel`,
    `cat ${entry}/generation`,
    `wc -c < ${entry}/outblob`,
    `cat ${entry}/inblob 2>/dev/null && echo readable || echo write-only`,
    `mkdir ${entry} 2>/dev/null && echo made-twice || echo exists`,
    `rmdir ${entry}`,
    `ls ${tsm.path}/report | wc -l`,
  ].join('; '));
  t.deepEqual(out.trim().split('\n'), [
    'auxblob generation inblob outblob privlevel privlevel_floor provider ',
    'sev_guest', '0', '1', '2', String(0x4a0), 'write-only', 'exists', '0',
  ]);
});

test.serial('the attester CLI reads a report through the mount; the verifier accepts it as simulated only under a policy trusting the harness\'s root', async (t) => {
  const nonce = randomBytes(32);
  const before = tsm.reports;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join(repoRoot, 'attester/src/main.ts'),
    '--print', '--nonce', nonce.toString('hex'), '--tee', 'tsm', '--tsm-root', join(tsm.path, 'report'), '--gpu', 'none'],
  { cwd: repoRoot, env: { ...process.env, NODE_NAME: 'tsm-test' } });
  const request = JSON.parse(stdout) as EvidenceRequest;
  t.is(request.cpu.type, 'sev-snp', 'the TSM speaks sev_guest: SEV-SNP report and certificate table');
  t.true(tsm.reports > before);
  const { subject: _subject, ...bundle } = request;
  const trusted = verifyEvidenceBundle(bundle, { nonce, policy: tee.policy(), now: new Date(), expectedGpuCount: 0 });
  t.deepEqual(trusted.reasons, []);
  t.true(trusted.verified);
  t.true(trusted.claims.simulated, 'a report chained to the simulated root is flagged simulated');
  const other = SimulatedTee.create({ gpus: 1 });
  const untrusted = verifyEvidenceBundle(bundle, { nonce, policy: other.policy(), now: new Date(), expectedGpuCount: 0 });
  t.false(untrusted.verified);
  const noSimulated = verifyEvidenceBundle(bundle, { nonce, policy: { trustedRoots: [tee.rootPem] }, now: new Date(), expectedGpuCount: 0 });
  t.false(noSimulated.verified);
  t.true(noSimulated.reasons.some((r) => r.code === 'SIMULATED_NOT_ALLOWED'));
});

test.serial('unmount leaves no mount behind', async (t) => {
  const path = join(dir, 'second');
  const second = await mountSimulatedTsm(path, tee);
  t.true(readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${path} `));
  await second.unmount();
  t.false(readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${path} `));
  t.true(existsSync(path));
});
