// `helm lint --strict` passes for the chart's defaults and for every ci/*-values.yaml scenario, and the
// values schema rejects what it should.
import test from 'ava';
import { chartDir, ciValuesFiles, helm, scenarioName } from './helm.js';

test('the chart has at least one ci scenario to lint', (t) => {
  t.true(ciValuesFiles.length >= 3, `ci/*-values.yaml: ${ciValuesFiles.join(', ')}`);
});

for (const file of [undefined, ...ciValuesFiles]) {
  test(`helm lint --strict passes with ${scenarioName(file)}`, async (t) => {
    const r = await helm(['lint', '--strict', chartDir, ...(file ? ['--values', file] : [])]);
    t.is(r.code, 0, `${r.stdout}\n${r.stderr}`);
    t.regex(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });
}

const rejected: [string, string[], RegExp][] = [
  ['an unknown top-level key', ['operatr.replicaCount=2'], /additional properties 'operatr' not allowed/],
  ['an unknown nested key', ['operator.leaderElection.enable=true'], /additional properties 'enable' not allowed/],
  ['an unknown attester key', ['attester.hardwareAccess=false'], /additional properties 'hardwareAccess' not allowed/],
  ['a TLS mode that does not exist', ['attestation.tls.mode=selfsigned'], /mode/],
  ['a config key the operator does not know', ['operator.config.challengeTTL=5'], /challengeTTL/],
  ['zero operator replicas', ['operator.replicaCount=0'], /replicaCount/],
  ['a malformed image digest', ['operator.image.digest=sha256:abc'], /digest/],
  ['a TEE type the operator does not know', ['operator.config.runtimeClassByTee.sgx=kata'], /sgx|runtimeClassByTee/],
];
for (const [what, set, message] of rejected) {
  test(`the values schema rejects ${what}, with a message naming it`, async (t) => {
    const lint = await helm(['lint', chartDir, ...set.flatMap((s) => ['--set', s])]);
    t.not(lint.code, 0);
    t.regex(lint.stdout + lint.stderr, message);
    const template = await helm(['template', 'chry', chartDir, ...set.flatMap((s) => ['--set', s])]);
    t.not(template.code, 0);
    t.regex(template.stderr, message);
  });
}

test('mode "secret" without a secretName fails rendering with a message naming the value', async (t) => {
  const r = await helm(['template', 'chry', chartDir, '--set', 'attestation.tls.mode=secret']);
  t.not(r.code, 0);
  t.regex(r.stderr, /attestation\.tls\.secretName is required/);
});

test('mode "certManager" without an issuer fails rendering with a message naming the value', async (t) => {
  const r = await helm(['template', 'chry', chartDir, '--set', 'attestation.tls.mode=certManager']);
  t.not(r.code, 0);
  t.regex(r.stderr, /attestation\.tls\.certManager\.issuerRef\.name is required/);
});
