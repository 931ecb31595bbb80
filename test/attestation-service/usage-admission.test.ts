// Finding (npm run bench -- chaos --nodes 2000 --usage-interval 60): nothing bounded how many usage reports
// the service served at once. At the attester's default interval 8,000 replicas send 133 reports a second,
// each a Pod read and a ProviderNode status write; once the apiserver slowed they piled up in flight and
// the replicas' renewals waited behind them until replicas lapsed. Now a service replica serves at most
// maxUsageReportsInFlight reports and defers the rest with 429 before reading anything for them, while
// attestation is served as before. A deferred report loses nothing: its counters are cumulative.
import test from 'ava';
import type { CallerIdentity } from '../../operator/src/attestation/service/caller-identity.js';
import { PATHS } from '../../operator/src/attestation/service/protocol.js';
import { AttestationService } from '../../operator/src/attestation/service/service.js';
import { ConfigError, DEFAULT_CONFIG, parseOperatorConfig } from '../../operator/src/config.js';
import { NO_FENCE } from '../../operator/src/kube/leader-election.js';
import { OperatorMetrics } from '../../operator/src/kube/metrics.js';
import type { RestClient } from '../../operator/src/kube/rest.js';
import { LABEL_POOL } from '../../operator/src/marks.js';
import { replicaKey, report, signReport } from '../settlementaccount/_usage.js';
import { ATTESTERS, attesterOf, fakeToken, START } from './_fake.js';

const NS = 'ns';
const POOL_UID = 'pool-uid';

/** The apiserver as far as these requests read it: replica Pods r-N of pool p, pool p, and nodes with a pending challenge. */
function fakeApiserver(reads: string[]): RestClient {
  return {
    request: async (method: string, path: string) => {
      reads.push(`${method} ${path}`);
      const pod = /\/namespaces\/ns\/pods\/([^/]+)$/.exec(path);
      if (method === 'GET' && pod) {
        return {
          metadata: {
            namespace: NS, name: pod[1], uid: `uid-${pod[1]}`, labels: { [LABEL_POOL]: 'p' },
            ownerReferences: [{ apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool', name: 'p', uid: POOL_UID, controller: true }],
          },
          spec: { nodeName: 'gpu-1', serviceAccountName: 'default' },
        };
      }
      if (method === 'GET' && /\/namespaces\/ns\/inferencepools\/p$/.test(path)) return { metadata: { namespace: NS, name: 'p', uid: POOL_UID } };
      const node = /\/providernodes\/([^/]+)$/.exec(path);
      if (method === 'GET' && node) {
        return { metadata: { name: node[1], resourceVersion: '1' }, spec: { nodeName: node[1] }, status: { attestation: { challenge: { nonce: 'ab'.repeat(32), issuedAt: START.toISOString(), expiresAt: new Date(START.getTime() + 300_000).toISOString() } } } };
      }
      throw new Error(`unexpected ${method} ${path}`);
    },
  } as unknown as RestClient;
}

/** Tokens of replica Pods are `fakeToken('r-N')`; any other subject is a node attester. */
function identityOf(token: string): CallerIdentity {
  const sub = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')).sub as string;
  if (!sub.startsWith('r-')) return attesterOf(sub);
  return { username: `system:serviceaccount:${NS}:default`, namespace: NS, serviceAccount: 'default', podName: sub, podUid: `uid-${sub}` };
}

test('usage reports past maxUsageReportsInFlight are answered 429 before anything is read for them, attestation is still served, and the bound frees as reports finish', async (t) => {
  const reads: string[] = [];
  const metrics = new OperatorMetrics();
  let finish!: () => void;
  const held = new Promise<void>((resolve) => { finish = resolve; });
  let ingesting = 0;
  const service = new AttestationService({
    rest: fakeApiserver(reads), fence: NO_FENCE, metrics,
    config: { ...DEFAULT_CONFIG, attesterServiceAccount: ATTESTERS, maxUsageReportsInFlight: 2 },
    verify: () => { throw new Error('not in this test'); },
    now: () => START,
    review: async (token) => identityOf(token),
    usage: {
      ingest: async () => {
        ingesting++;
        await held;
        return { accepted: true, reasons: [] };
      },
    },
  });
  const usage = (pod: string) => service.handle('POST', PATHS.usage, { authorization: `Bearer ${fakeToken(pod)}` },
    signReport(replicaKey(7), report({ namespace: NS, pod, bootId: 'boot-0001', sequence: 1, prompt: 5, gen: 5 })));

  const first = [usage('r-0'), usage('r-1')];
  for (let turn = 0; ingesting < 2 && turn < 10_000; turn++) await new Promise((r) => setImmediate(r));
  t.is(ingesting, 2, 'two reports are being ingested');
  const readsBefore = reads.length;
  const deferred = await usage('r-2');
  t.is(deferred.status, 429);
  t.is(deferred.headers?.['retry-after'], '5');
  t.regex((deferred.body as { error: string }).error, /serving 2 usage reports \(maxUsageReportsInFlight\).*cumulative counters/);
  t.deepEqual(reads.slice(readsBefore), [], 'nothing was read from the apiserver for the deferred report');
  t.is((await metrics.usageReportsDeferred.get()).values[0]?.value, 1);

  const challenge = await service.handle('POST', PATHS.challenge, { authorization: `Bearer ${fakeToken('gpu-1')}` }, { subject: { kind: 'node', nodeName: 'gpu-1' } });
  t.is(challenge.status, 200, 'a node challenge is served while the usage bound is full');

  finish();
  t.deepEqual((await Promise.all(first)).map((r) => r.status), [200, 200]);
  t.is((await usage('r-2')).status, 200, 'served once the reports in flight finished');
});

test('a usage report that fails still frees its place', async (t) => {
  let calls = 0;
  const service = new AttestationService({
    rest: fakeApiserver([]), fence: NO_FENCE,
    config: { ...DEFAULT_CONFIG, attesterServiceAccount: ATTESTERS, maxUsageReportsInFlight: 1 },
    verify: () => { throw new Error('not in this test'); },
    now: () => START,
    review: async (token) => identityOf(token),
    usage: { ingest: async () => { calls++; throw new Error('the apiserver went away'); } },
  });
  const usage = (pod: string) => service.handle('POST', PATHS.usage, { authorization: `Bearer ${fakeToken(pod)}` },
    signReport(replicaKey(7), report({ namespace: NS, pod, bootId: 'boot-0001', sequence: 1, prompt: 5, gen: 5 })));
  t.is((await usage('r-0')).status, 503);
  t.is((await usage('r-1')).status, 503, 'not 429: the failed report released its place');
  t.is(calls, 2);
});

test('maxUsageReportsInFlight defaults to 32 and refuses what is not a whole number from 1, naming the field', (t) => {
  t.is(DEFAULT_CONFIG.maxUsageReportsInFlight, 32);
  t.is(parseOperatorConfig('maxUsageReportsInFlight: 1').maxUsageReportsInFlight, 1);
  for (const bad of ['0', '-4', '2.5', '"64"', '100001']) {
    const err = t.throws(() => parseOperatorConfig(`maxUsageReportsInFlight: ${bad}`, 'config.yaml'), { instanceOf: ConfigError });
    t.regex(err!.message, /^config\.yaml: maxUsageReportsInFlight must be a whole number from 1 to 100000/);
  }
});
