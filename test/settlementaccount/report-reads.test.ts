// A usage report's Pod and pool are read once. The attestation service reads both to authorize the
// report; metering read them again (and the SettlementAccount and the ProviderNode), so a report cost six
// GETs. At a report per replica every few seconds the service's client rate limit (50/s by default) was
// spent on them: in the chaos bench at 100 nodes its challenges took 17-40 s to answer, and replica
// attestations lapsed before their renewals were through. What the caller read is now passed in.
import test from 'ava';
import type { InferencePool } from '../../operator/src/api/inferencepool.js';
import { InferencePools } from '../../operator/src/kube/chrysalis-resources.js';
import { KubeClient } from '../../operator/src/kube/kube-client.js';
import { NO_FENCE } from '../../operator/src/kube/leader-election.js';
import { Pods, type KubeObject, type ResourceType } from '../../operator/src/kube/resource.js';
import { UsageIngest, type PodLike } from '../../operator/src/settlement/metering.js';
import { ProviderNodeReads } from '../../operator/src/attestation/service/provider-node-reads.js';
import { addProviderNode, addReplica, newPayout, setUpEnv } from './_env.js';
import { replicaKey, report, signReport } from './_usage.js';

/** A KubeClient that counts its GETs by resource. */
class CountingClient extends KubeClient {
  readonly gets = new Map<string, number>();
  override async get<T extends KubeObject>(resource: ResourceType, name: string, namespace?: string): Promise<T | undefined> {
    this.gets.set(resource.plural, (this.gets.get(resource.plural) ?? 0) + 1);
    return super.get<T>(resource, name, namespace);
  }
}

test('a report whose Pod and pool the caller read is folded without reading them again; without them they are read', async (t) => {
  const env = await setUpEnv(t, { prefix: 'settle-reads' });
  const pn = await addProviderNode(env, newPayout());
  const key = replicaKey(41);
  await addReplica(env, pn, 'r-0', key);
  const pod = (await env.client.get<PodLike>(Pods, 'r-0', env.ns))!;
  const poolName = pod.metadata?.labels?.['chrysalis.dev/pool'] as string;
  const pool = (await env.client.get<InferencePool & KubeObject>(InferencePools, poolName, env.ns))!;

  const counting = new CountingClient(env.rest, NO_FENCE);
  const ingest = new UsageIngest({ client: counting, providerNodes: env.providerNodeCache });
  const given = await ingest.ingest(signReport(key, report({ namespace: env.ns, pod: 'r-0', sequence: 1, prompt: 10, gen: 2 })), { pod, pool });
  t.true(given.accepted, JSON.stringify(given.reasons));
  t.is(given.delta?.units, 12n);
  t.is(counting.gets.get('pods'), undefined, 'the Pod is not read again');
  t.is(counting.gets.get('inferencepools'), undefined, 'nor its pool');

  counting.gets.clear();
  const unread = await ingest.ingest(signReport(key, report({ namespace: env.ns, pod: 'r-0', sequence: 2, prompt: 20, gen: 4 })));
  t.true(unread.accepted, JSON.stringify(unread.reasons));
  t.is(counting.gets.get('pods'), 1);
  t.is(counting.gets.get('inferencepools'), 1);

  // Objects for another Pod are not taken for this report's: read as if none were given.
  counting.gets.clear();
  const other = { ...pod, metadata: { ...pod.metadata, name: 'r-1' } };
  const mismatched = await ingest.ingest(signReport(key, report({ namespace: env.ns, pod: 'r-0', sequence: 3, prompt: 30, gen: 6 })), { pod: other, pool });
  t.true(mismatched.accepted, JSON.stringify(mismatched.reasons));
  t.is(counting.gets.get('pods'), 1);
});

test('a fold reads its ProviderNode from the cache first; a cached copy that lags (no key yet) does not refuse the report, the apiserver\'s object decides', async (t) => {
  const env = await setUpEnv(t, { prefix: 'settle-cached' });
  const pn = await addProviderNode(env, newPayout());
  const key = replicaKey(42);
  // The key is recorded after the cache took its copy of the ProviderNode: the copy shows no key.
  await addReplica(env, pn, 'r-0', key);
  t.deepEqual(env.providerNodeCache.get(undefined, pn)?.status?.attestedReplicas ?? [], []);
  const reads = new ProviderNodeReads({ rest: env.rest, cache: env.providerNodeCache });
  const ingest = new UsageIngest({ client: env.client, providerNodes: env.providerNodeCache, providerNodeReads: reads });

  const first = await ingest.ingest(signReport(key, report({ namespace: env.ns, pod: 'r-0', sequence: 1, prompt: 10, gen: 2 })));
  t.true(first.accepted, JSON.stringify(first.reasons));
  t.deepEqual(reads.counts, { cached: 1, fresh: 1 }, 'the copy\'s refusal was confirmed on the apiserver, which accepted');

  // The next fold reads the object this process wrote (the cache has still not caught up): no GET, and
  // it is the current object, so the write is not refused.
  const second = await ingest.ingest(signReport(key, report({ namespace: env.ns, pod: 'r-0', sequence: 2, prompt: 20, gen: 4 })));
  t.true(second.accepted, JSON.stringify(second.reasons));
  t.is(second.delta?.units, 12n);
  t.deepEqual(reads.counts, { cached: 2, fresh: 1 });
});
