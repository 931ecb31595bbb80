// Shared set-up for the attestation service's tests without a cluster (not a test file): a service
// whose TokenReview is a counted function, whose apiserver answers a node's challenge from memory, and
// whose clock the test moves.
import { randomBytes } from 'node:crypto';
import type { CallerIdentity } from '../../operator/src/attestation/service/caller-identity.js';
import { AuthError } from '../../operator/src/attestation/service/caller-identity.js';
import { AttestationService } from '../../operator/src/attestation/service/service.js';
import { DEFAULT_CONFIG, type OperatorConfig } from '../../operator/src/config.js';
import { NO_FENCE } from '../../operator/src/kube/leader-election.js';
import type { RestClient } from '../../operator/src/kube/rest.js';

export const START = new Date('2026-01-01T00:00:00Z');
export const ATTESTERS = { namespace: 'chrysalis-system', name: 'chrysalis-attester' };

/** A JWT-shaped token (unsigned: the fake TokenReview decides) for `node`, with `exp` seconds since the epoch. */
export function fakeToken(node: string, exp = START.getTime() / 1000 + 3600, aud: unknown = ['chrysalis-attestation']): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b64({ alg: 'RS256' })}.${b64({ aud, exp, sub: node, jti: randomBytes(8).toString('hex') })}.${randomBytes(16).toString('base64url')}`;
}

export interface Harness {
  service: AttestationService;
  clock: { ms: number };
  reviews: () => number;
  /** What the fake TokenReview does with a token: an identity, AuthError, or another error. */
  behave: (fn: (token: string) => CallerIdentity | Error) => void;
  post: (path: string, token: string, body?: unknown) => ReturnType<AttestationService['handle']>;
}

/** The node attester's identity for node `node`. */
export const attesterOf = (node: string): CallerIdentity => ({ username: `system:serviceaccount:${ATTESTERS.namespace}:${ATTESTERS.name}`, namespace: ATTESTERS.namespace, serviceAccount: ATTESTERS.name, nodeName: node });

export function harness(config: Partial<OperatorConfig> = {}): Harness {
  const clock = { ms: START.getTime() };
  let reviews = 0;
  let behaviour: (token: string) => CallerIdentity | Error = (token) => {
    const sub = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')).sub as string;
    return attesterOf(sub);
  };
  // Every node has a ProviderNode of its name with a pending challenge.
  const rest = {
    request: async (method: string, path: string) => {
      const m = /\/providernodes\/([^/]+)$/.exec(path);
      if (method === 'GET' && m) {
        return { metadata: { name: m[1], resourceVersion: '1' }, spec: { nodeName: m[1] }, status: { attestation: { challenge: { nonce: 'ab'.repeat(32), issuedAt: new Date(clock.ms).toISOString(), expiresAt: new Date(clock.ms + 300_000).toISOString() } } } };
      }
      throw new Error(`unexpected ${method} ${path}`);
    },
  } as unknown as RestClient;
  const service = new AttestationService({
    rest, fence: NO_FENCE, config: { ...DEFAULT_CONFIG, attesterServiceAccount: ATTESTERS, ...config },
    verify: () => { throw new Error('not in these tests'); },
    now: () => new Date(clock.ms),
    review: async (token) => {
      reviews++;
      const r = behaviour(token);
      if (r instanceof Error) throw r;
      return r;
    },
  });
  return {
    service, clock, reviews: () => reviews,
    behave: (fn) => { behaviour = fn; },
    post: (path, token, body) => service.handle('POST', path, { authorization: `Bearer ${token}` }, body ?? { subject: { kind: 'node', nodeName: subOf(token) ?? 'gpu-1' } }),
  };
}

/** The `sub` a fakeToken carries; undefined for anything else. */
function subOf(token: string): string | undefined {
  try {
    return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')).sub as string;
  } catch {
    return undefined;
  }
}

export { AuthError };
