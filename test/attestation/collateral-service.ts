// Test helper: the attestation service as main.ts wires it (configuration → collateral sources →
// verifierWithCollateral → AttestationService), with a Kubernetes API faked from memory (one ProviderNode
// with a pending challenge, one AttestationPolicy), a caller that is the node's attester, and a clock the
// test sets. `answer` sends one node answer through the service's evidence endpoint.
import { randomBytes } from 'node:crypto';
import { Registry } from 'prom-client';
import type { AttestationPolicySpec } from '../../operator/src/api/attestationpolicy.js';
import { collateralSources, type CollateralSources } from '../../operator/src/attestation/collateral/from-config.js';
import { verifierWithCollateral } from '../../operator/src/attestation/service/bundle-verifier.js';
import type { EvidenceRequest, EvidenceResponse } from '../../operator/src/attestation/service/protocol.js';
import { AttestationService } from '../../operator/src/attestation/service/service.js';
import { DEFAULT_CONFIG, parseOperatorConfig } from '../../operator/src/config.js';
import { NO_FENCE } from '../../operator/src/kube/leader-election.js';
import type { RestClient } from '../../operator/src/kube/rest.js';
import { ATTESTERS, attesterOf, fakeToken } from '../attestation-service/_fake.js';

/** What an attester sends for the pending nonce. */
export type Evidence = (nonce: Uint8Array) => { cpu: EvidenceRequest['cpu']; publicKey?: Uint8Array; gpus?: EvidenceRequest['gpus'] };

export interface CollateralService {
  sources: CollateralSources;
  registry: Registry;
  clock: { now: Date };
  /** The status patches the service sent, in order (what the ProviderNode controller turns into conditions). */
  writes: Array<{ path: string; body: { status?: { attestation?: Record<string, unknown> } } }>;
  answer(evidence: Evidence, policy: AttestationPolicySpec): Promise<EvidenceResponse>;
}

export function collateralService(configYaml: string, start: Date): CollateralService {
  const config = parseOperatorConfig(configYaml, 'test config');
  const registry = new Registry();
  const clock = { now: start };
  const writes: CollateralService['writes'] = [];
  const sources = collateralSources(config.collateral, { registry, clock: () => clock.now });
  const answer: CollateralService['answer'] = async (evidence, policy) => {
    const nonce = new Uint8Array(randomBytes(32));
    const { cpu, publicKey = new Uint8Array(randomBytes(32)), gpus = [] } = evidence(nonce);
    const issuedAt = clock.now.toISOString();
    const rest = {
      request: async (method: string, path: string, options?: { body?: unknown }) => {
        if (method === 'GET' && path.endsWith('/providernodes/gpu-1')) {
          return {
            metadata: { name: 'gpu-1', resourceVersion: '7' },
            spec: { nodeName: 'gpu-1', tee: cpu.type, gpus: { model: 'H100', count: gpus.length }, policyRef: { name: 'fleet' } },
            status: { attestation: { challenge: { nonce: Buffer.from(nonce).toString('hex'), issuedAt, expiresAt: new Date(clock.now.getTime() + 300_000).toISOString() } } },
          };
        }
        if (method === 'GET' && path.endsWith('/attestationpolicies/fleet')) return { metadata: { name: 'fleet' }, spec: policy };
        if (method === 'PATCH') {
          writes.push({ path, body: options?.body as CollateralService['writes'][number]['body'] });
          return {};
        }
        throw new Error(`unexpected ${method} ${path}`);
      },
    } as unknown as RestClient;
    const service = new AttestationService({
      rest, fence: NO_FENCE, config: { ...DEFAULT_CONFIG, attesterServiceAccount: ATTESTERS, collateral: config.collateral },
      verify: verifierWithCollateral(sources), now: () => clock.now, review: async () => attesterOf('gpu-1'),
    });
    const body: EvidenceRequest = { subject: { kind: 'node', nodeName: 'gpu-1' }, nonce: Buffer.from(nonce).toString('hex'), publicKey: Buffer.from(publicKey).toString('hex'), cpu, gpus };
    const res = await service.handle('POST', '/v1/evidence', { authorization: `Bearer ${fakeToken('gpu-1', clock.now.getTime() / 1000 + 3600)}` }, body);
    if (res.status !== 200) throw new Error(`the service answered ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body as EvidenceResponse;
  };
  return { sources, registry, clock, writes, answer };
}
