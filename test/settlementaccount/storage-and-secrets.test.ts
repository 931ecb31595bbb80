import test from 'ava';
import { randomBytes } from 'node:crypto';
import winston from 'winston';
import { Writable } from 'node:stream';
import { mnemonicNew } from '@ton/crypto';
import { Address } from '@ton/core';
import { EndpointUnreachableError, readContract } from '../../operator/src/settlement/chain/chain.js';
import { keyPairFromMnemonic, TonClientChain } from '../../operator/src/settlement/chain/ton-client-chain.js';
import { operatorKeySecretName } from '../../operator/src/settlement/keys.js';
import { leavesConfigMapName, loadLeaves, saveLeaves } from '../../operator/src/settlement/leaves-store.js';
import { ConfigMaps, Secrets } from '../../operator/src/kube/resource.js';
import { UsageIngest } from '../../operator/src/settlement/metering.js';
import { addProviderNode, addReplica, listProviderNodes, newPayout, setUpEnv } from './_env.js';
import { Clock, reconcilerOf, settle } from './_settle.js';
import { replicaKey, report, signReport } from './_usage.js';

test('the leaves of 10,000 payees fit one ConfigMap and load back to the same root', async (t) => {
  const env = await setUpEnv(t, { prefix: 'settle-leaves' });
  const leaves = new Map<bigint, bigint>();
  for (let i = 0; i < 10_000; i++) leaves.set(BigInt(`0x${randomBytes(32).toString('hex')}`), BigInt(1 + (i % 5000)));
  const names = await saveLeaves(env.client, env.ns, 'acct', 7n, leaves);
  t.deepEqual(names, [leavesConfigMapName('acct', 7n)]);
  const cm = await env.client.get<{ binaryData: Record<string, string> }>(ConfigMaps, names[0]!, env.ns);
  const bytes = Buffer.from(cm!.binaryData['leaves.json.gz']!, 'base64').length;
  t.log(`10,000 leaves: ${bytes} bytes gzipped`);
  t.true(bytes < 768 * 1024);
  const loaded = await loadLeaves(env.client, env.ns, 'acct', 7n);
  t.is(loaded?.leaves.size, 10_000);
  t.is(loaded?.epoch, 7n);
  t.is(await loadLeaves(env.client, env.ns, 'acct', 8n), undefined);
});

test('concurrent folds into one ProviderNode lose no delta (the update is conditioned on resourceVersion)', async (t) => {
  const env = await setUpEnv(t, { prefix: 'settle-conc' });
  const pn = await addProviderNode(env, newPayout());
  const keys = Array.from({ length: 6 }, (_, i) => replicaKey(40 + i));
  for (let i = 0; i < keys.length; i++) await addReplica(env, pn, `r-${i}`, keys[i]!);
  // Separate ingest objects, as two operator replicas or handler calls would be.
  const ingests = keys.map(() => new UsageIngest({ client: env.client, providerNodes: env.providerNodeCache }));
  const results = await Promise.all(keys.flatMap((k, i) => [1, 2, 3].map(async (seq) => {
    await new Promise((r) => setTimeout(r, seq * 5));
    return ingests[i]!.ingest(signReport(k, report({ namespace: env.ns, pod: `r-${i}`, sequence: seq, prompt: seq * 10, gen: 0 })));
  })));
  // Reports of one replica may arrive out of order: a late older one is refused, never double counted.
  const accepted = results.filter((r) => r.accepted).length;
  t.true(accepted >= keys.length);
  const [node] = await listProviderNodes(env);
  const total = BigInt(node!.status!.usage![0]!.units!);
  const perCursor = node!.status!.usageCursors!.reduce((s, c) => s + BigInt(c.units!), 0n);
  t.is(total, perCursor);
  const fromDeltas = results.reduce((s, r) => s + (r.delta?.units ?? 0n), 0n);
  t.is(total, fromDeltas, 'every accepted delta is in the total, and nothing else');
  t.is(node!.status!.usageCursors!.length, keys.length);
});

test('the operator key never reaches the logs, and a mnemonic never reaches an error message', async (t) => {
  const env = await setUpEnv(t, { prefix: 'settle-secret' });
  const lines: string[] = [];
  const logger = winston.createLogger({
    level: 'debug', format: winston.format.json(),
    transports: [new winston.transports.Stream({ stream: new Writable({ write(chunk, _e, cb) { lines.push(String(chunk)); cb(); } }) })],
  });
  const clock = new Clock();
  const pn = await addProviderNode(env, newPayout());
  await addReplica(env, pn, 'r-0', replicaKey(50));
  await new UsageIngest({ client: env.client, logger, providerNodes: env.providerNodeCache }).ingest(signReport(replicaKey(50), report({ namespace: env.ns, pod: 'r-0', sequence: 1, prompt: 5, gen: 5 })));
  const reconciler = reconcilerOf(env, clock, { logger });
  t.teardown(() => reconciler.close());
  await settle(env, reconciler, clock, 10n);
  const secret = await env.client.get<{ data: Record<string, string> }>(Secrets, operatorKeySecretName('acct'), env.ns);
  const sk = Buffer.from(secret!.data.secretKey!, 'base64');
  const log = lines.join('\n');
  t.true(lines.length > 0);
  t.false(log.includes(sk.toString('hex')) || log.includes(sk.toString('base64')) || log.includes(sk.subarray(0, 32).toString('hex')));

  // A live-network chain whose endpoint is down: the error names the endpoint, never the wallet's words.
  const words = await mnemonicNew(24);
  const chain = new TonClientChain({ network: 'testnet', endpoint: 'http://127.0.0.1:9/jsonRPC', keyPair: await keyPairFromMnemonic(words.join(' ')), timeoutMs: 2000 });
  const err = await t.throwsAsync(chain.run((s) => readContract(s, new Address(0, Buffer.alloc(32, 1)))));
  t.true(err instanceof EndpointUnreachableError, String(err));
  t.regex(err!.message, /^TON endpoint http:\/\/127\.0\.0\.1:9\/jsonRPC did not answer( \([A-Z0-9 ]+\))?$/);
  t.false(err!.message.includes(words.slice(0, 2).join(' ')));
  const bad = await t.throwsAsync(keyPairFromMnemonic(`${words.slice(0, 23).join(' ')}`));
  t.is(bad!.message, 'the wallet mnemonic must have 24 words, it has 23');
});

