// /v1/standing tells a node's own attester whether the operator quarantines the node, from its
// ProviderNode status (the Quarantined condition and the last verifiedAt), so the attester can withhold
// the GPUs for a quarantine its own evidence does not show (GpuStateChanged). Only the node's attester may
// ask, only for a node; nothing is written.
import test from 'ava';
import { AttestationService } from '../../operator/src/attestation/service/service.js';
import { DEFAULT_CONFIG } from '../../operator/src/config.js';
import { NO_FENCE } from '../../operator/src/kube/leader-election.js';
import type { RestClient } from '../../operator/src/kube/rest.js';
import { ATTESTERS, attesterOf } from './_fake.js';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { ProviderNodeReads } from '../../operator/src/attestation/service/provider-node-reads.js';
import type { KubeObject } from '../../operator/src/kube/resource.js';
import { Store } from '../../operator/src/kube/store.js';

const VERIFIED_AT = '2026-12-03T12:00:00.250Z';

function serviceWith(conditions: unknown[], cached?: unknown[]) {
  const calls: string[] = [];
  const rest = {
    request: async (method: string, path: string) => {
      calls.push(`${method} ${path}`);
      const m = /\/providernodes\/([^/]+)$/.exec(path);
      if (method === 'GET' && m) return { metadata: { name: m[1], resourceVersion: '7' }, spec: { nodeName: m[1] }, status: { conditions, attestation: { verifiedAt: VERIFIED_AT } } };
      throw new Error(`unexpected ${method} ${path}`);
    },
  } as unknown as RestClient;
  // `cached`: the conditions of an older copy in the operator's ProviderNode cache.
  const cache = new Store<ProviderNode & KubeObject>();
  if (cached) cache.put({ metadata: { name: 'gpu-1', resourceVersion: '6' }, spec: { nodeName: 'gpu-1' }, status: { conditions: cached } } as unknown as ProviderNode & KubeObject);
  const service = new AttestationService({
    rest, fence: NO_FENCE, config: { ...DEFAULT_CONFIG, attesterServiceAccount: ATTESTERS },
    ...(cached ? { providerNodes: new ProviderNodeReads({ rest, cache }) } : {}),
    verify: () => { throw new Error('not in these tests'); },
  });
  return { service, calls };
}

test('a quarantined node\'s attester is told the reason, since when, and the last verifiedAt', async (t) => {
  const { service, calls } = serviceWith([
    { type: 'Attested', status: 'False', reason: 'GpuStateChanged', message: 'x', lastTransitionTime: '2026-12-03T12:05:00Z' },
    { type: 'Quarantined', status: 'True', reason: 'GpuStateChanged', message: 'node advertises 7 GPUs but 8 were declared and attested', lastTransitionTime: '2026-12-03T12:05:00Z' },
  ]);
  const r = await service.serve('/v1/standing', attesterOf('gpu-1'), { subject: { kind: 'node', nodeName: 'gpu-1' } });
  t.is(r.status, 200);
  t.deepEqual(r.body, { verifiedAt: VERIFIED_AT, quarantined: true, quarantineReason: 'GpuStateChanged', quarantineMessage: 'node advertises 7 GPUs but 8 were declared and attested', quarantinedSince: '2026-12-03T12:05:00Z' });
  t.true(calls.every((c) => c.startsWith('GET ')), 'nothing written');
});

test('a node whose Quarantined condition is False (or absent) is not quarantined', async (t) => {
  for (const conditions of [[{ type: 'Quarantined', status: 'False', reason: 'Recovered', message: '', lastTransitionTime: '2026-12-03T12:05:00Z' }], []]) {
    const r = await serviceWith(conditions).service.serve('/v1/standing', attesterOf('gpu-1'), { subject: { kind: 'node', nodeName: 'gpu-1' } });
    t.deepEqual(r.body, { verifiedAt: VERIFIED_AT, quarantined: false });
  }
});

test('only the node\'s own attester may ask, and only about a node', async (t) => {
  const { service } = serviceWith([]);
  t.is((await service.serve('/v1/standing', attesterOf('gpu-2'), { subject: { kind: 'node', nodeName: 'gpu-1' } })).status, 403);
  const replica = await service.serve('/v1/standing', attesterOf('gpu-1'), { subject: { kind: 'replica', namespace: 'ml', pod: 'llm-0' } });
  t.is(replica.status, 400);
  t.regex((replica.body as { error: string }).error, /nodes only/);
  t.is(service.route('POST', '/v1/standing'), undefined, 'the endpoint is served');
});

test('the standing is read from the apiserver, not from a cached copy that has not seen the quarantine yet', async (t) => {
  const quarantined = [{ type: 'Quarantined', status: 'True', reason: 'GpuStateChanged', message: 'x', lastTransitionTime: '2026-12-03T12:05:00Z' }];
  const { service, calls } = serviceWith(quarantined, []);
  const r = await service.serve('/v1/standing', attesterOf('gpu-1'), { subject: { kind: 'node', nodeName: 'gpu-1' } });
  t.like(r.body, { quarantined: true });
  t.is(calls.length, 1);
});
