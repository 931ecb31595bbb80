// Helpers for usage-report tests: a replica's signing key and signed reports. Not a test file.
import { keyPairFromSeed, sign, type KeyPair } from '@ton/crypto';
import { canonicalJson, type SignedUsageReport, type UsageReport } from '../../operator/src/attestation/service/protocol.js';
import { SettlementAccounts } from '../../operator/src/kube/chrysalis-resources.js';
import type { KubeClient } from '../../operator/src/kube/kube-client.js';

export function replicaKey(seed: number): KeyPair {
  return keyPairFromSeed(Buffer.alloc(32, seed));
}

export function signReport(key: KeyPair, report: UsageReport): SignedUsageReport {
  return { report, signature: sign(Buffer.from(canonicalJson(report), 'utf8'), key.secretKey).toString('hex') };
}

export function report(opts: { namespace?: string; pod?: string; bootId?: string; sequence: number; prompt: number | bigint; gen: number | bigint; gpu?: number | bigint; cached?: number | bigint }): UsageReport {
  return {
    namespace: opts.namespace ?? 'ns',
    pod: opts.pod ?? 'r-0',
    bootId: opts.bootId ?? 'boot-a',
    sequence: opts.sequence,
    counters: { promptTokens: String(opts.prompt), generationTokens: String(opts.gen), gpuSeconds: String(opts.gpu ?? 0), ...(opts.cached !== undefined ? { cachedPromptTokens: String(opts.cached) } : {}) },
    at: '2025-06-15T12:00:00Z',
  };
}

/**
 * The sandbox SettlementAccount `acct` in `namespace`, which the replica pools of
 * test/attestation-service/_cluster.ts (podOn's `replicaOf`) bill: metering refuses an account that is not there.
 */
export async function sandboxAccount(client: KubeClient, namespace: string): Promise<void> {
  await client.create(SettlementAccounts, {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'SettlementAccount', metadata: { name: 'acct', namespace },
    spec: { network: 'sandbox', pricePerUnitNanoton: '1' },
  });
}
