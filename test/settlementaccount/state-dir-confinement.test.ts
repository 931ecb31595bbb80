// spec.sandbox.stateDir is written by whoever may create a SettlementAccount, and the operator writes the
// sandbox chain's state there: it must never reach outside the namespace's part of the operator's state
// root — not by an absolute path, not by '..', not through a symbolic link.
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SettlementAccount } from '../../operator/src/api/settlementaccount.js';
import { SettlementReconciler } from '../../operator/src/controllers/settlementaccount/reconciler.js';
import { AccountConfigError, sandboxStateDir } from '../../operator/src/settlement/keys.js';
import { SettlementAccounts } from '../../operator/src/kube/chrysalis-resources.js';
import type { KubeObject } from '../../operator/src/kube/resource.js';
import { listProviderNodes, setUpEnv } from './_env.js';

function account(stateDir?: string): SettlementAccount {
  return {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'SettlementAccount', metadata: { name: 'acct', namespace: 'team-a' },
    spec: { network: 'sandbox', pricePerUnitNanoton: '1', ...(stateDir !== undefined ? { sandbox: { stateDir } } : {}) },
  };
}

function tempRoot(t: { teardown(fn: () => void): void }): string {
  const root = mkdtempSync(join(tmpdir(), 'chrysalis-root-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

test('the sandbox state of an account lies under <root>/<namespace>/, by default under its name', (t) => {
  const root = tempRoot(t);
  t.is(sandboxStateDir(account(), root), join(root, 'team-a', 'acct'));
  t.is(sandboxStateDir(account('chains/main'), root), join(root, 'team-a', 'chains', 'main'));
});

for (const [title, dir] of [
  ['an absolute stateDir', '/etc/cron.d'],
  ['a stateDir climbing out with ..', '../../../etc'],
  ['a stateDir reaching into another namespace with ..', '../team-b/acct'],
  ['a stateDir that is the namespace directory itself', '.'],
] as const) {
  test(`${title} is refused, naming spec.sandbox.stateDir`, (t) => {
    const root = tempRoot(t);
    const err = t.throws(() => sandboxStateDir(account(dir), root));
    t.true(err instanceof AccountConfigError);
    t.is((err as AccountConfigError).reason, 'InvalidStateDir');
    t.regex(err!.message, /spec\.sandbox\.stateDir/);
  });
}

test('a stateDir through a symbolic link planted under the root is refused', (t) => {
  const root = tempRoot(t);
  const outside = tempRoot(t);
  mkdirSync(join(root, 'team-a'), { recursive: true });
  symlinkSync(outside, join(root, 'team-a', 'escape'));
  const err = t.throws(() => sandboxStateDir(account('escape/chain'), root));
  t.regex(err!.message, /spec\.sandbox\.stateDir "escape\/chain": .* is a symbolic link/);
  // A namespace directory that is itself a link is refused too, even for the default stateDir.
  rmSync(join(root, 'team-a'), { recursive: true });
  symlinkSync(outside, join(root, 'team-a'));
  t.throws(() => sandboxStateDir(account(), root), { instanceOf: AccountConfigError });
});

test('the apiserver refuses an absolute or climbing stateDir, naming spec.sandbox.stateDir', async (t) => {
  const env = await setUpEnv(t, { prefix: 'settle-statedir' });
  for (const stateDir of ['/var/lib/kubelet', 'chain/../../other']) {
    const err = await t.throwsAsync(env.client.create(SettlementAccounts, {
      apiVersion: 'chrysalis.dev/v1alpha1', kind: 'SettlementAccount', metadata: { name: 'escape', namespace: env.ns },
      spec: { network: 'sandbox', pricePerUnitNanoton: '1', sandbox: { stateDir } },
    } as SettlementAccount & KubeObject));
    t.regex(err!.message, /spec\.sandbox\.stateDir/, stateDir);
  }
});

test('an account whose stateDir passes through a symbolic link gets InvalidStateDir and nothing is written outside the root', async (t) => {
  const env = await setUpEnv(t, { prefix: 'settle-symlink' });
  const outside = tempRoot(t);
  mkdirSync(join(env.sandboxRoot, env.ns), { recursive: true });
  symlinkSync(outside, join(env.sandboxRoot, env.ns, 'escape'));
  await env.client.create(SettlementAccounts, {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'SettlementAccount', metadata: { name: 'linked', namespace: env.ns },
    spec: { network: 'sandbox', pricePerUnitNanoton: '1', sandbox: { stateDir: 'escape' } },
  } as SettlementAccount & KubeObject);
  const reconciler = new SettlementReconciler({ client: env.client, events: env.events, listProviderNodes: () => listProviderNodes(env), chain: { sandboxRoot: env.sandboxRoot } });
  t.teardown(() => reconciler.close());
  await t.throwsAsync(reconciler.reconcile(`SettlementAccount/${env.ns}/linked`));
  const acct = await env.client.get<SettlementAccount & KubeObject>(SettlementAccounts, 'linked', env.ns);
  const synced = acct?.status?.conditions?.find((c) => c.type === 'Synced');
  t.is(synced?.status, 'False');
  t.is(synced?.reason, 'InvalidStateDir');
  t.regex(synced?.message ?? '', /spec\.sandbox\.stateDir "escape"/);
  t.deepEqual(readdirSync(outside), [], 'no chain state was written through the link');
  t.false(existsSync(join(outside, 'state.json')));
});
