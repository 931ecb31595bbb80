// Shape checks for request bodies: everything the service reads is checked before use, and a bad body
// is a 400 naming the field, never an exception deeper in.
import type { ChallengeRequest, EvidenceRequest, SignedUsageReport, Subject } from './protocol.js';

export class BadRequest extends Error {}

const HEX64 = /^[0-9a-f]{64}$/;
const B64 = /^[A-Za-z0-9+/]*={0,2}$/;
const DNS = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function obj(v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BadRequest(`${field}: expected an object`);
  return v as Record<string, unknown>;
}
function str(v: unknown, field: string, pattern?: RegExp, max = 1 << 20): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max) throw new BadRequest(`${field}: expected a non-empty string of at most ${max} characters`);
  if (pattern && !pattern.test(v)) throw new BadRequest(`${field}: invalid format (expected ${pattern.source})`);
  return v;
}

export function parseSubject(v: unknown, field = 'subject'): Subject {
  const o = obj(v, field);
  if (o.kind === 'node') return { kind: 'node', nodeName: str(o.nodeName, `${field}.nodeName`, DNS, 253) };
  if (o.kind === 'replica') return { kind: 'replica', namespace: str(o.namespace, `${field}.namespace`, DNS, 63), pod: str(o.pod, `${field}.pod`, DNS, 253) };
  throw new BadRequest(`${field}.kind: must be "node" or "replica"`);
}

export function parseChallengeRequest(v: unknown): ChallengeRequest {
  return { subject: parseSubject(obj(v, 'body').subject) };
}

export function parseEvidenceRequest(v: unknown): EvidenceRequest {
  const o = obj(v, 'body');
  const cpu = obj(o.cpu, 'cpu');
  let parsedCpu: EvidenceRequest['cpu'];
  if (cpu.type === 'sev-snp') {
    parsedCpu = { type: 'sev-snp', report: str(cpu.report, 'cpu.report', B64), ...(cpu.vcek !== undefined ? { vcek: str(cpu.vcek, 'cpu.vcek', B64) } : {}), ...(cpu.chain !== undefined ? { chain: str(cpu.chain, 'cpu.chain') } : {}) };
  } else if (cpu.type === 'tdx') {
    parsedCpu = { type: 'tdx', quote: str(cpu.quote, 'cpu.quote', B64) };
  } else if (cpu.type === 'simulated') {
    parsedCpu = { type: 'simulated', report: str(cpu.report, 'cpu.report', B64), vcek: str(cpu.vcek, 'cpu.vcek', B64), chain: str(cpu.chain, 'cpu.chain') };
  } else {
    throw new BadRequest('cpu.type: must be "sev-snp", "tdx" or "simulated"');
  }
  if (!Array.isArray(o.gpus) || o.gpus.length > 16) throw new BadRequest('gpus: expected an array of at most 16 GPU reports');
  // Each GPU once: the verdict records one entry per index (status.attestation.gpus), so a repeated index
  // is the request's fault, refused here rather than verified and then refused by the status write.
  const firstAt = new Map<number, number>();
  const gpus = o.gpus.map((g, i) => {
    const go = obj(g, `gpus[${i}]`);
    if (typeof go.index !== 'number' || !Number.isInteger(go.index) || go.index < 0 || go.index > 63) throw new BadRequest(`gpus[${i}].index: expected an integer 0..63`);
    const first = firstAt.get(go.index);
    if (first !== undefined) throw new BadRequest(`gpus[${i}].index: GPU index ${go.index} is also gpus[${first}].index; send one entry per GPU, each with its own index`);
    firstAt.set(go.index, i);
    return { index: go.index, report: str(go.report, `gpus[${i}].report`, B64), certChain: str(go.certChain, `gpus[${i}].certChain`) };
  });
  return { subject: parseSubject(o.subject), nonce: str(o.nonce, 'nonce', HEX64), publicKey: str(o.publicKey, 'publicKey', HEX64), cpu: parsedCpu, gpus };
}

export function parseSignedUsageReport(v: unknown): SignedUsageReport {
  const o = obj(v, 'body');
  const r = obj(o.report, 'report');
  const c = obj(r.counters, 'report.counters');
  const digits = /^[0-9]{1,30}$/;
  if (typeof r.sequence !== 'number' || !Number.isSafeInteger(r.sequence) || r.sequence < 0) throw new BadRequest('report.sequence: expected a non-negative integer');
  return {
    report: {
      namespace: str(r.namespace, 'report.namespace', DNS, 63), pod: str(r.pod, 'report.pod', DNS, 253),
      bootId: str(r.bootId, 'report.bootId', /^[0-9a-zA-Z-]{8,64}$/, 64), sequence: r.sequence,
      counters: {
        promptTokens: str(c.promptTokens, 'report.counters.promptTokens', digits), generationTokens: str(c.generationTokens, 'report.counters.generationTokens', digits), gpuSeconds: str(c.gpuSeconds, 'report.counters.gpuSeconds', digits),
        // Optional (attesters before cached-token metering send none); kept exactly as sent, since the signature covers it.
        ...(c.cachedPromptTokens !== undefined ? { cachedPromptTokens: str(c.cachedPromptTokens, 'report.counters.cachedPromptTokens', digits) } : {}),
      },
      at: str(r.at, 'report.at', /^\d{4}-\d\d-\d\dT/, 40),
    },
    signature: str(o.signature, 'signature', /^[0-9a-f]{128}$/),
  };
}
