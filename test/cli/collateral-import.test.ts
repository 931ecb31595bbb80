// `chrysalis collateral import DIR` checks every file before it writes anything: the vectors' real Intel
// collateral passes (and its state at a pinned time is shown), an edited TCB info, a stray file or a key a
// ConfigMap cannot hold is refused naming the file. The ConfigMap it builds, materialised as the kubelet
// mounts it, is what the attestation service reads.
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleConfigMap, inspectBundle, type BundleFile } from '../../cli/src/commands/collateral-import.js';
import { readBundleDir } from '../../operator/src/attestation/collateral/bundle-dir.js';
import { UsageError } from '../../cli/src/kube.js';
import { vectorPath, TDX_TIME } from '../attestation/vectors.js';
import { testTempDir } from '../_temp-dir.js';

const NAMES = ['tcb_info_90c06f000000.json', 'tcb_info_50806f000000.json', 'td_qe_identity.json', 'tcb_signing_chain.pem', 'pck_crl_platform.der', 'root_ca_crl.der'];
const files = (): BundleFile[] => NAMES.map((name) => ({ name, bytes: new Uint8Array(readFileSync(vectorPath('tdx', `attestation-rs/${name}`))) }));

test('the vectors\' real Intel collateral passes every check and each item is listed with its state', (t) => {
  const items = inspectBundle(files(), TDX_TIME);
  t.deepEqual(items.map((i) => `${i.kind} ${i.key} ${i.state ?? '-'}`), [
    'tcb-info 90c06f000000 fresh',
    'tcb-info 50806f000000 fresh',
    'qe-identity TD_QE fresh',
    'chain 2 certificate(s) -',
    'crl pck-ca fresh',
    'crl root fresh',
  ]);
  t.true(inspectBundle(files(), new Date('2026-04-20T00:00:00Z')).some((i) => i.state === 'stale'), 'past nextUpdate the items are shown stale');
});

for (const [what, edit, message] of [
  ['an edited TCB info (its signature fails)', (f: BundleFile[]) => { f[0] = { ...f[0]!, bytes: new Uint8Array(Buffer.from(Buffer.from(f[0]!.bytes).toString('utf8').replace('"tcbLevels":', '"tcbLevels" :'))) }; }, /tcb_info_90c06f000000\.json \(TCB info\): the signature does not verify/],
  ['a TCB info without the signing chain', (f: BundleFile[]) => { f.splice(3, 1); }, /came without its issuer chain/],
  ['a file that is not collateral', (f: BundleFile[]) => { f.push({ name: 'notes.txt', bytes: new Uint8Array(Buffer.from('copied on Tuesday')) }); }, /notes\.txt: /],
  ['a file name a ConfigMap cannot hold', (f: BundleFile[]) => { f[0] = { ...f[0]!, name: 'tcb info.json' }; }, /tcb info\.json: a ConfigMap key/],
] as const) {
  test(`${what} is refused, naming the file, before anything is written`, (t) => {
    const f = files();
    edit(f);
    const err = t.throws(() => inspectBundle(f, TDX_TIME), { instanceOf: UsageError });
    t.regex(err!.message, message);
  });
}

test('the ConfigMap keeps text as data and DER as binaryData, and mounted it is the bundle the service reads', (t) => {
  const cm = bundleConfigMap(files(), 'chrysalis-system') as { data: Record<string, string>; binaryData: Record<string, string>; metadata: { name: string; namespace: string } };
  t.is(cm.metadata.name, 'chrysalis-collateral-bundle');
  t.deepEqual(Object.keys(cm.binaryData).sort(), ['pck_crl_platform.der', 'root_ca_crl.der']);
  t.deepEqual(Object.keys(cm.data).sort(), ['tcb_info_50806f000000.json', 'tcb_info_90c06f000000.json', 'tcb_signing_chain.pem', 'td_qe_identity.json']);
  const dir = testTempDir('chrysalis-mounted-');
  for (const [k, v] of Object.entries(cm.data)) writeFileSync(join(dir, k), v);
  for (const [k, v] of Object.entries(cm.binaryData)) writeFileSync(join(dir, k), Buffer.from(v, 'base64'));
  const bundle = readBundleDir(dir);
  t.is(bundle.tcbInfos?.length, 2);
  t.is(bundle.qeIdentities?.length, 1);
  t.is(bundle.crls?.length, 2);
  t.is(bundle.issuerChain?.length, 2);
});

test('a text file led by a byte-order mark is held in the ConfigMap with its bytes unchanged', (t) => {
  const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...Buffer.from('-----BEGIN CERTIFICATE-----\n')]);
  const cm = bundleConfigMap([{ name: 'chain.pem', bytes }], 'chrysalis-system') as { data: Record<string, string> };
  t.deepEqual(new Uint8Array(Buffer.from(cm.data['chain.pem']!, 'utf8')), bytes);
});
