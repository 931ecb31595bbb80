// A SettlementAccount names its wallet Secret by name, and the operator may read Secrets in the namespace:
// without a rule, whoever may create an account could have the operator take any Secret there (another
// application's credentials) as its wallet. Only Secrets labelled chrysalis.dev/wallet=true are used.
import test from 'ava';
import { Writable } from 'node:stream';
import winston from 'winston';
import { mnemonicNew, type KeyPair } from '@ton/crypto';
import type { SettlementAccount } from '../../operator/src/api/settlementaccount.js';
import { SettlementReconciler } from '../../operator/src/controllers/settlementaccount/reconciler.js';
import { EndpointUnreachableError, type SettlementChain } from '../../operator/src/settlement/chain/chain.js';
import { keyPairFromMnemonic } from '../../operator/src/settlement/chain/ton-client-chain.js';
import { operatorKeySecretName } from '../../operator/src/settlement/keys.js';
import { LABEL_WALLET } from '../../operator/src/marks.js';
import { Events, Secrets, type KubeObject } from '../../operator/src/kube/resource.js';
import { SettlementAccounts } from '../../operator/src/kube/chrysalis-resources.js';
import { listProviderNodes, setUpEnv } from './_env.js';

test('an account naming an unlabelled Secret gets WalletSecretNotLabelled, and nothing from the Secret is used or shown', async (t) => {
  const env = await setUpEnv(t, { prefix: 'settle-wallet' });
  const words = await mnemonicNew(24);
  const mnemonic = words.join(' ');
  // Some other application's Secret that happens to hold a "mnemonic" key.
  await env.client.create(Secrets, {
    apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: 'someone-elses', namespace: env.ns },
    data: { mnemonic: Buffer.from(mnemonic).toString('base64') },
  });
  await env.client.create(SettlementAccounts, {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'SettlementAccount', metadata: { name: 'live', namespace: env.ns },
    spec: { network: 'testnet', endpoint: 'https://testnet.toncenter.com/api/v2/jsonRPC', pricePerUnitNanoton: '1', walletSecretRef: { name: 'someone-elses' } },
  } as SettlementAccount & KubeObject);

  const lines: string[] = [];
  const logger = winston.createLogger({
    level: 'debug', format: winston.format.json(),
    transports: [new winston.transports.Stream({ stream: new Writable({ write(chunk, _e, cb) { lines.push(String(chunk)); cb(); } }) })],
  });
  const opened: KeyPair[] = [];
  const reconciler = new SettlementReconciler({
    client: env.client, events: env.events, logger, listProviderNodes: () => listProviderNodes(env),
    // Records the key the operator would sign with; the endpoint is never reached.
    openChain: (_account, keyPair) => {
      opened.push(keyPair);
      return { network: 'testnet', run: async () => { throw new EndpointUnreachableError('test endpoint did not answer'); }, close: async () => {} } as unknown as SettlementChain;
    },
  });
  t.teardown(() => reconciler.close());
  const key = `SettlementAccount/${env.ns}/live`;

  const r = await reconciler.reconcile(key);
  t.is(opened.length, 0, 'no chain was opened with a key taken from the unlabelled Secret');
  t.true((r.requeueAfterMs ?? 0) > 0, 'looks again later: a label added to the Secret is not watched');
  let acct = await env.client.get<SettlementAccount & KubeObject>(SettlementAccounts, 'live', env.ns);
  const synced = acct?.status?.conditions?.find((c) => c.type === 'Synced');
  t.is(synced?.status, 'False');
  t.is(synced?.reason, 'WalletSecretNotLabelled');
  t.true(synced?.message.includes(`${LABEL_WALLET}=true`), synced?.message);
  t.true(synced?.message.includes('spec.walletSecretRef'), synced?.message);

  const events = await env.client.list<{ message?: string; reason?: string }>(Events, { namespace: env.ns });
  const shown = [JSON.stringify(acct?.status), ...events.items.map((e) => e.message ?? ''), ...lines].join('\n');
  for (const w of [words.slice(0, 3).join(' '), Buffer.from(mnemonic).toString('base64').slice(0, 24)]) t.false(shown.includes(w));

  // Labelled, the same Secret is the wallet: the chain is opened with its key.
  await env.client.patchMerge(Secrets, 'someone-elses', env.ns, { metadata: { labels: { [LABEL_WALLET]: 'true' } } });
  await t.throwsAsync(reconciler.reconcile(key), { instanceOf: EndpointUnreachableError });
  t.is(opened.length, 1);
  t.deepEqual(opened[0]!.publicKey, (await keyPairFromMnemonic(mnemonic)).publicKey);
  acct = await env.client.get<SettlementAccount & KubeObject>(SettlementAccounts, 'live', env.ns);
  t.is(acct?.status?.conditions?.find((c) => c.type === 'EndpointUnreachable')?.status, 'True');

  // The label taken away again: the key derived from it is not used any more either.
  await env.client.patchMerge(Secrets, 'someone-elses', env.ns, { metadata: { labels: { [LABEL_WALLET]: null } } });
  await reconciler.reconcile(key);
  t.is(opened.length, 1);
  acct = await env.client.get<SettlementAccount & KubeObject>(SettlementAccounts, 'live', env.ns);
  t.is(acct?.status?.conditions?.find((c) => c.type === 'Synced')?.reason, 'WalletSecretNotLabelled');
});

test('a sandbox operator-key Secret planted without the label is refused; the one the operator creates carries it', async (t) => {
  const env = await setUpEnv(t, { prefix: 'settle-opkey' });
  await env.client.create(Secrets, {
    apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: operatorKeySecretName('planted'), namespace: env.ns },
    data: { secretKey: Buffer.alloc(64, 9).toString('base64') },
  });
  for (const name of ['planted', 'fresh']) {
    await env.client.create(SettlementAccounts, {
      apiVersion: 'chrysalis.dev/v1alpha1', kind: 'SettlementAccount', metadata: { name, namespace: env.ns },
      spec: { network: 'sandbox', pricePerUnitNanoton: '1' },
    } as SettlementAccount & KubeObject);
  }
  const opened: string[] = [];
  const reconciler = new SettlementReconciler({
    client: env.client, events: env.events, listProviderNodes: () => listProviderNodes(env),
    openChain: (account) => {
      opened.push(account.metadata.name!);
      return { network: 'sandbox', run: async () => { throw new EndpointUnreachableError('test endpoint did not answer'); }, close: async () => {} } as unknown as SettlementChain;
    },
  });
  t.teardown(() => reconciler.close());
  await reconciler.reconcile(`SettlementAccount/${env.ns}/planted`);
  const planted = await env.client.get<SettlementAccount & KubeObject>(SettlementAccounts, 'planted', env.ns);
  t.is(planted?.status?.conditions?.find((c) => c.type === 'Synced')?.reason, 'WalletSecretNotLabelled');
  await t.throwsAsync(reconciler.reconcile(`SettlementAccount/${env.ns}/fresh`), { instanceOf: EndpointUnreachableError });
  t.deepEqual(opened, ['fresh']);
  const created = await env.client.get<{ metadata: { labels?: Record<string, string> } }>(Secrets, operatorKeySecretName('fresh'), env.ns);
  t.is(created?.metadata.labels?.[LABEL_WALLET], 'true');
});
