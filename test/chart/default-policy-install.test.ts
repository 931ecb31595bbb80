// The default AttestationPolicy through a real helm install on a private control plane: created by the
// post-install hook in the same release that installs its CRD; the operator's edits survive an upgrade
// (the chart renders the policy only while none of that name exists); uninstall leaves it, so the nodes
// that use it are not left with PolicyNotFound.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { startControlPlane, type ControlPlane } from '../../dev/cluster/control-plane.js';
import { chartDir, helm, kubectl } from './helm.js';

let cp: ControlPlane | undefined;
const suffix = randomBytes(3).toString('hex');

test.before(async () => {
  cp = await startControlPlane({ scheduler: false, kwok: false });
});
test.after.always(async () => {
  await cp?.stop();
});

const kc = () => ['--kubeconfig', cp!.kubeconfigPath];
const h = (args: string[]) => helm([...args, ...kc()]);
const k = (args: string[]) => kubectl([...args, ...kc()]);
const policySpec = async () => {
  const r = await k(['get', 'attestationpolicies.chrysalis.dev', 'default', '-o', 'json']);
  return r.code === 0 ? (JSON.parse(r.stdout) as { spec: Record<string, any> }).spec : undefined;
};

test('helm install creates the strict default policy with its CRD, an upgrade keeps the operator\'s edits, uninstall leaves it', async (t) => {
  const namespace = `chrysalis-policy-${suffix}`;
  const release = `pol-${suffix}`;
  const install = await h(['install', release, chartDir, '-n', namespace, '--create-namespace']);
  t.is(install.code, 0, install.stderr);
  t.regex(install.stdout, /admits ANY image on genuine hardware and reports AllowsAnyImage:\n\s+kubectl edit attestationpolicy default/, 'NOTES.txt says what to pin');
  const installed = await policySpec();
  t.like(installed, { debugAllowed: false, allowSimulated: false, gpu: { ccModeRequired: true }, maxEvidenceAgeSeconds: 300, reattestIntervalSeconds: 3600 });

  // The operator pins their image.
  const hash = 'ab'.repeat(32);
  const edited = await k(['patch', 'attestationpolicies.chrysalis.dev', 'default', '--type=merge', '-p', JSON.stringify({ spec: { allowedImageHashes: [hash] } })]);
  t.is(edited.code, 0, edited.stderr);
  const upgrade = await h(['upgrade', release, chartDir, '-n', namespace, '--set', 'defaultPolicy.maxEvidenceAgeSeconds=120']);
  t.is(upgrade.code, 0, upgrade.stderr);
  t.like(await policySpec(), { allowedImageHashes: [hash], maxEvidenceAgeSeconds: 300 }, 'the upgrade neither overwrote nor re-created it');

  const uninstall = await h(['uninstall', release, '-n', namespace]);
  t.is(uninstall.code, 0, uninstall.stderr);
  t.like(await policySpec(), { allowedImageHashes: [hash] }, 'the policy outlives the release');

  // A reinstall finds it and leaves it alone (no "already exists").
  const again = await h(['install', `${release}-2`, chartDir, '-n', namespace, '--set', 'crds.enabled=false']);
  t.is(again.code, 0, again.stderr);
  t.like(await policySpec(), { allowedImageHashes: [hash] });
});
