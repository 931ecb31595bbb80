// Helpers for usage-report tests: a replica's signing key and signed reports. Not a test file.
import { keyPairFromSeed, sign, type KeyPair } from '@ton/crypto';
import { canonicalJson, type SignedUsageReport, type UsageReport } from '../../operator/src/attestation/service/protocol.js';

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
