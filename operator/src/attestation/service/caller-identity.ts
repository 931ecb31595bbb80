// Who is calling: the Bearer token is a ServiceAccount token (audience chrysalis-attestation) that the
// apiserver vouches for through a TokenReview. Bound tokens carry the node (and pod) they were issued
// for; authorization compares those with the subject being attested, so a node attester can attest only
// its own node and a replica sidecar only its own pod. Anything unverifiable is refused.
import type { RestClient } from '../../kube/rest.js';
import { ATTESTATION_AUDIENCE, type Subject } from './protocol.js';

export interface CallerIdentity {
  username: string;
  /** Namespace of the ServiceAccount. */
  namespace: string;
  serviceAccount: string;
  nodeName?: string;
  podName?: string;
}

export class AuthError extends Error {
  constructor(readonly status: 401 | 403, message: string) {
    super(message);
  }
}

interface TokenReviewStatus {
  authenticated?: boolean;
  error?: string;
  audiences?: string[];
  user?: { username?: string; extra?: Record<string, string[]> };
}

export async function reviewToken(rest: RestClient, authorization: string | undefined): Promise<CallerIdentity> {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  if (!match) throw new AuthError(401, 'missing "Authorization: Bearer <ServiceAccount token>" header');
  const review = await rest.request<{ status?: TokenReviewStatus }>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: match[1], audiences: [ATTESTATION_AUDIENCE] } },
  });
  const status = review.status ?? {};
  if (!status.authenticated) throw new AuthError(401, `token rejected by the apiserver${status.error ? `: ${status.error}` : ''}`);
  if (!(status.audiences ?? []).includes(ATTESTATION_AUDIENCE)) throw new AuthError(401, `token audience must include ${ATTESTATION_AUDIENCE}`);
  const username = status.user?.username ?? '';
  const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username);
  if (!sa) throw new AuthError(403, `caller ${username || '(anonymous)'} is not a ServiceAccount`);
  const extra = status.user?.extra ?? {};
  return {
    username,
    namespace: sa[1]!,
    serviceAccount: sa[2]!,
    nodeName: extra['authentication.kubernetes.io/node-name']?.[0],
    podName: extra['authentication.kubernetes.io/pod-name']?.[0],
  };
}

/** Throws AuthError(403) unless the caller's bound token is for exactly this subject. */
export function authorize(caller: CallerIdentity, subject: Subject): void {
  if (subject.kind === 'node') {
    if (!caller.nodeName) throw new AuthError(403, 'node attestation needs a token bound to the node (kubectl create token --bound-object-kind Node, or a pod-bound token of a pod on it)');
    if (caller.nodeName !== subject.nodeName) throw new AuthError(403, `token is bound to node ${caller.nodeName}, not ${subject.nodeName}`);
    return;
  }
  if (!caller.podName) throw new AuthError(403, 'replica attestation needs a token bound to the replica pod');
  if (caller.podName !== subject.pod || caller.namespace !== subject.namespace) {
    throw new AuthError(403, `token is bound to pod ${caller.namespace}/${caller.podName}, not ${subject.namespace}/${subject.pod}`);
  }
}
