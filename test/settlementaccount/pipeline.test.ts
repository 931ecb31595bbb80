import test from 'ava';
import { Address } from '@ton/core';
import { claimAll } from '../../operator/src/settlement/claims.js';
import { payeeKey } from '../../operator/src/settlement/entitlements.js';
import { operatorKeySecretName } from '../../operator/src/settlement/keys.js';
import { Secrets } from '../../operator/src/kube/resource.js';
import { Events } from '../../operator/src/kube/resource.js';
import { addProviderNode, addReplica, getAccount, listProviderNodes, newPayout, setUpEnv } from './_env.js';
import { balances, chainView, Clock, paidUnits, reconcilerOf, sandboxOf, settle } from './_settle.js';
import { replicaKey, report, signReport } from './_usage.js';

test('signed usage is metered, committed, claimed and paid in full on the sandbox chain', async (t) => {
  const env = await setUpEnv(t, { prefix: 'settle-e2e' });
  const clock = new Clock();
  const [payA, payB] = [newPayout(), newPayout()];
  // Provider A runs two hosts; provider B one.
  const pn = [await addProviderNode(env, payA), await addProviderNode(env, payB), await addProviderNode(env, payA)];
  const keys = [replicaKey(11), replicaKey(12), replicaKey(13)];
  for (let i = 0; i < 3; i++) await addReplica(env, pn[i]!, `r-${i}`, keys[i]!);
  const send = (i: number, o: Parameters<typeof report>[0]) => env.ingest.ingest(signReport(keys[i]!, report({ namespace: env.ns, pod: `r-${i}`, ...o })));

  t.true((await send(0, { sequence: 1, prompt: 100, gen: 20 })).accepted);
  t.true((await send(1, { sequence: 1, prompt: 50, gen: 0, gpu: 9 })).accepted);
  t.true((await send(2, { sequence: 1, prompt: 7, gen: 3 })).accepted);
  t.true((await send(0, { sequence: 2, prompt: 150, gen: 30 })).accepted); // +60
  t.true((await send(0, { sequence: 1, bootId: 'boot-b', prompt: 5, gen: 0 })).accepted); // restart: +5

  const nodes = await listProviderNodes(env);
  const unitsOfNode = (name: string) => nodes.find((n) => n.metadata.name === name)!.status!.usage!.find((u) => u.account === `${env.ns}/acct`)!.units;
  t.is(unitsOfNode(pn[0]!), '185');
  t.is(unitsOfNode(pn[1]!), '50');
  t.is(unitsOfNode(pn[2]!), '10');
  const metered = 245n;

  const reconciler = reconcilerOf(env, clock);
  t.teardown(() => reconciler.close());
  await settle(env, reconciler, clock, metered);
  let acct = await getAccount(env);
  t.is(acct.status?.totals?.metered, '245');
  t.is(acct.status?.totals?.committed, '245');
  t.is(acct.status?.totals?.paid, '0');
  t.is(acct.status?.conditions?.find((c) => c.type === 'Synced')?.status, 'True');
  t.is(acct.status?.conditions?.find((c) => c.type === 'Underfunded')?.status, 'False');
  t.is(acct.status?.conditions?.find((c) => c.type === 'EndpointUnreachable')?.status, 'False');
  t.is(acct.status?.lastConfirmed?.epoch, 1);
  t.regex(acct.status?.lastConfirmed?.txHash ?? '', /^[0-9a-f]{64}$/);

  // More usage, a second commit after the period.
  t.true((await send(1, { sequence: 2, prompt: 80, gen: 0, gpu: 12 })).accepted); // +30
  clock.advance(11);
  await settle(env, reconciler, clock, 275n);
  acct = await getAccount(env);
  t.is(acct.status?.lastConfirmed?.epoch, 2);

  const chain = sandboxOf(env, clock);
  const claimed = await claimAll(env.client, chain, { namespace: env.ns, name: env.account });
  await chain.close();
  t.is(claimed.results.length, 2);
  t.true(claimed.results.every((r) => r.outcome === 'paid'));

  const view = await chainView(env, clock);
  t.is(view.committed.totalUnits, 275n);
  t.is(view.committed.paidTotal, 275n);
  const address = Address.parse(acct.status!.contractAddress!);
  t.deepEqual(await paidUnits(env, clock, address, [payeeKey(payA), payeeKey(payB)]), [195n, 80n]);
  // Real balances: each payee received its units x price (no commission) plus the claim's leftover gas.
  const [balA, balB] = await balances(env, clock, [payA, payB]);
  t.true(balA! >= 195n * 1_000_000n, `A has ${balA}`);
  t.true(balB! >= 80n * 1_000_000n, `B has ${balB}`);
  t.true(balB! < 80n * 1_000_000n + 50_000_000n);

  // After one more reconcile the account reports paid == metered.
  await reconciler.reconcile(`SettlementAccount/${env.ns}/${env.account}`);
  acct = await getAccount(env);
  t.deepEqual(acct.status?.totals, { metered: '275', committed: '275', paid: '275' });

  // The operator's secret key is nowhere in status or events.
  const secret = await env.client.get<{ data: Record<string, string> }>(Secrets, operatorKeySecretName(env.account), env.ns);
  const sk = Buffer.from(secret!.data.secretKey!, 'base64');
  const evs = await env.client.list(Events, { namespace: env.ns });
  for (const text of [JSON.stringify(acct), JSON.stringify(evs.items)]) {
    t.false(text.includes(sk.toString('hex')));
    t.false(text.includes(sk.toString('base64')));
    t.false(text.includes(sk.subarray(0, 32).toString('hex')));
  }
});

test('forged, unattested, replayed and decreasing usage is refused, evented, and never reaches the chain', async (t) => {
  const env = await setUpEnv(t, { prefix: 'settle-forged' });
  const clock = new Clock();
  const pay = newPayout();
  const pn = await addProviderNode(env, pay);
  const good = replicaKey(21);
  const attacker = replicaKey(22);
  await addReplica(env, pn, 'r-0', good);
  await addReplica(env, pn, 'r-1', replicaKey(23), { attested: false });
  await addReplica(env, pn, 'r-2', replicaKey(24), { expires: new Date(Date.now() - 1000).toISOString() });
  const rep = (pod: string, o: Parameters<typeof report>[0]) => report({ namespace: env.ns, pod, ...o });

  t.true((await env.ingest.ingest(signReport(good, rep('r-0', { sequence: 5, prompt: 100, gen: 0 })))).accepted);
  const refused = [
    ['SIGNATURE_INVALID', await env.ingest.ingest(signReport(attacker, rep('r-0', { sequence: 6, prompt: 10_000, gen: 0 })))],
    ['NOT_ATTESTED', await env.ingest.ingest(signReport(replicaKey(23), rep('r-1', { sequence: 1, prompt: 10_000, gen: 0 })))],
    ['ATTESTATION_EXPIRED', await env.ingest.ingest(signReport(replicaKey(24), rep('r-2', { sequence: 1, prompt: 10_000, gen: 0 })))],
    ['SEQUENCE_REPLAYED', await env.ingest.ingest(signReport(good, rep('r-0', { sequence: 4, prompt: 10_000, gen: 0 })))],
    ['COUNTER_DECREASED', await env.ingest.ingest(signReport(good, rep('r-0', { sequence: 6, prompt: 99, gen: 0 })))],
    ['UNKNOWN_REPLICA', await env.ingest.ingest(signReport(attacker, rep('r-9', { sequence: 1, prompt: 10_000, gen: 0 })))],
  ] as const;
  for (const [code, r] of refused) {
    t.false(r.accepted, code);
    t.is(r.reasons[0]?.code, code);
  }
  // A report altered in transit is refused too.
  const tampered = signReport(good, rep('r-0', { sequence: 7, prompt: 101, gen: 0 }));
  tampered.report.counters.generationTokens = '50000';
  t.is((await env.ingest.ingest(tampered)).reasons[0]?.code, 'SIGNATURE_INVALID');

  const reconciler = reconcilerOf(env, clock);
  t.teardown(() => reconciler.close());
  await settle(env, reconciler, clock, 100n);
  const view = await chainView(env, clock);
  t.is(view.committed.totalUnits, 100n);
  const acct = await getAccount(env);
  t.is(acct.status?.totals?.metered, '100');

  // Each refusal left a Warning Event on its Pod.
  const evs = (await env.client.list<{ reason?: string; type?: string; note?: string; regarding?: { name?: string } }>(Events, { namespace: env.ns })).items
    .filter((e) => e.reason === 'UsageRejected');
  for (const code of ['SIGNATURE_INVALID', 'NOT_ATTESTED', 'ATTESTATION_EXPIRED', 'SEQUENCE_REPLAYED', 'COUNTER_DECREASED']) {
    t.true(evs.some((e) => e.type === 'Warning' && e.note?.startsWith(code)), `a ${code} event`);
  }
});
