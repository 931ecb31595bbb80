// Who is calling: the Bearer token is a ServiceAccount token (audience chrysalis-attestation) that the
// apiserver vouches for through a TokenReview. Bound tokens carry the node (and pod) they were issued
// for. Authorization is by identity, not only by where the token was issued:
//   - a node is attested only by the node attesters' ServiceAccount (config attesterServiceAccount) with a
//     token bound to that node, or to a Pod on it. Any Pod can mount a projected token with the service's
//     audience and its node's name in it; a node-name claim alone proves only "some Pod on this node";
//   - a replica is attested, and reports usage, only with a token bound to exactly that Pod (name and
//     uid) of the Pod's own ServiceAccount: the token the kubelet projects into its sidecar.
// Anything unverifiable is refused.
import type { V1Pod } from '@kubernetes/client-node';
import type { ServiceAccountRef } from '../../config.js';
import type { RestClient } from '../../kube/rest.js';
import { ATTESTATION_AUDIENCE, type Subject } from './protocol.js';

export interface CallerIdentity {
  username: string;
  /** Namespace of the ServiceAccount. */
  namespace: string;
  serviceAccount: string;
  nodeName?: string;
  podName?: string;
  podUid?: string;
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

/** The token of an `Authorization: Bearer <token>` header; AuthError(401) when there is none. */
export function bearerToken(authorization: string | undefined): string {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  if (!match) throw new AuthError(401, 'missing "Authorization: Bearer <ServiceAccount token>" header');
  return match[1]!;
}

/** Asks the apiserver who the token belongs to (one TokenReview). */
export async function reviewToken(rest: RestClient, token: string): Promise<CallerIdentity> {
  const review = await rest.request<{ status?: TokenReviewStatus }>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [ATTESTATION_AUDIENCE] } },
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
    podUid: extra['authentication.kubernetes.io/pod-uid']?.[0],
  };
}

/** One caller for rate limiting: the account plus the object its token is bound to. */
export function callerKey(caller: CallerIdentity): string {
  if (caller.podUid) return `${caller.username}|pod:${caller.podUid}`;
  if (caller.podName) return `${caller.username}|pod:${caller.namespace}/${caller.podName}`;
  if (caller.nodeName) return `${caller.username}|node:${caller.nodeName}`;
  return caller.username;
}

/**
 * Throws AuthError(403) unless the caller may speak for this subject, as far as the token alone tells:
 * for a node, the attesters' ServiceAccount bound to that node; for a replica, a token bound to a Pod
 * of that name in that namespace (authorizeReplicaPod then checks the Pod itself).
 */
export function authorize(caller: CallerIdentity, subject: Subject, attester: ServiceAccountRef): void {
  if (subject.kind === 'node') {
    if (caller.namespace !== attester.namespace || caller.serviceAccount !== attester.name) {
      throw new AuthError(403, `node attestation is accepted only from the node attesters' ServiceAccount ${attester.namespace}/${attester.name}, not ${caller.namespace}/${caller.serviceAccount}`);
    }
    if (!caller.nodeName) throw new AuthError(403, 'node attestation needs a token bound to the node (kubectl create token --bound-object-kind Node, or the attester Pod\'s projected token)');
    if (caller.nodeName !== subject.nodeName) throw new AuthError(403, `token is bound to node ${caller.nodeName}, not ${subject.nodeName}`);
    return;
  }
  if (!caller.podName) throw new AuthError(403, 'replica attestation needs a token bound to the replica pod');
  if (caller.podName !== subject.pod || caller.namespace !== subject.namespace) {
    throw new AuthError(403, `token is bound to pod ${caller.namespace}/${caller.podName}, not ${subject.namespace}/${subject.pod}`);
  }
}

/**
 * Throws AuthError(403) unless the token is bound to this very Pod (its uid, so not an earlier Pod of
 * the same name) and belongs to the Pod's own ServiceAccount, the one its sidecar's token is of.
 */
export function authorizeReplicaPod(caller: CallerIdentity, pod: V1Pod): void {
  const namespace = pod.metadata?.namespace;
  const name = pod.metadata?.name;
  if (caller.namespace !== namespace || caller.podName !== name) {
    throw new AuthError(403, `token is bound to pod ${caller.namespace}/${caller.podName ?? '(none)'}, not ${namespace}/${name}`);
  }
  if (!caller.podUid || caller.podUid !== pod.metadata?.uid) {
    throw new AuthError(403, `token is bound to another pod named ${namespace}/${name} (uid ${caller.podUid ?? 'absent'}, the pod's is ${pod.metadata?.uid ?? 'absent'})`);
  }
  const podAccount = pod.spec?.serviceAccountName || 'default';
  if (caller.serviceAccount !== podAccount) {
    throw new AuthError(403, `token is of ServiceAccount ${caller.namespace}/${caller.serviceAccount}, not the replica pod's own ${namespace}/${podAccount}`);
  }
}
