// Finding (the fleet simulator's replicas sending their last report as their Pod went): a usage report for
// a Pod that no longer exists was answered 409, as a challenge for it is. The attester takes 409 for a
// stale read and sends again, so the sidecar's last report tried for its whole 10 s deadline, five
// requests to the service, for a Pod that will not come back. Now the service hands the report to
// metering, which refuses it with a verdict (UNKNOWN_REPLICA), answered at once. A Pod that exists but is
// no replica is still refused by the service itself, before metering sees (and events) anything.
import test from 'ava';
import type { CallerIdentity } from '../../operator/src/attestation/service/caller-identity.js';
import { PATHS, type SignedUsageReport } from '../../operator/src/attestation/service/protocol.js';
import { AttestationService } from '../../operator/src/attestation/service/service.js';
import { DEFAULT_CONFIG } from '../../operator/src/config.js';
import { NO_FENCE } from '../../operator/src/kube/leader-election.js';
import { KubeApiError, type RestClient } from '../../operator/src/kube/rest.js';
import { replicaKey, report, signReport } from '../settlementaccount/_usage.js';
import { ATTESTERS, fakeToken, START } from './_fake.js';

const NS = 'ns';

function serviceOver(rest: RestClient, handed: Array<{ pod?: unknown } | undefined>): AttestationService {
  return new AttestationService({
    rest, fence: NO_FENCE,
    config: { ...DEFAULT_CONFIG, attesterServiceAccount: ATTESTERS },
    verify: () => { throw new Error('not in this test'); },
    now: () => START,
    // The token is still valid (TokenReviews are cached) while its Pod is already deleted.
    review: async (): Promise<CallerIdentity> => ({ username: `system:serviceaccount:${NS}:default`, namespace: NS, serviceAccount: 'default', podName: 'r-0', podUid: 'uid-r-0' }),
    usage: {
      ingest: async (_report: SignedUsageReport, _now: Date, read?: { pod?: unknown }) => {
        handed.push(read);
        return { accepted: false, reasons: [{ code: 'UNKNOWN_REPLICA', message: `no replica Pod ${NS}/r-0` }] };
      },
    },
  });
}

const reportOfR0 = () => signReport(replicaKey(7), report({ namespace: NS, pod: 'r-0', bootId: 'boot-0001', sequence: 3, prompt: 5, gen: 5 }));

test('a usage report for a Pod that is gone is refused by metering with a verdict, not answered 409', async (t) => {
  const reads: string[] = [];
  const rest = {
    request: async (method: string, path: string) => {
      reads.push(`${method} ${path}`);
      throw new KubeApiError(404, 'NotFound', 'pods "r-0" not found', method, path);
    },
  } as unknown as RestClient;
  const handed: Array<{ pod?: unknown } | undefined> = [];
  const answer = await serviceOver(rest, handed).handle('POST', PATHS.usage, { authorization: `Bearer ${fakeToken('r-0')}` }, reportOfR0());
  t.is(answer.status, 200, JSON.stringify(answer.body));
  t.deepEqual(answer.body, { accepted: false, reasons: [{ code: 'UNKNOWN_REPLICA', message: `no replica Pod ${NS}/r-0` }] });
  t.deepEqual(handed, [undefined], 'metering gets the report with no Pod read for it, and reads (and refuses) it itself');
  t.deepEqual(reads, [`GET /api/v1/namespaces/${NS}/pods/r-0`]);
});

test('a usage report from a Pod that exists but no InferencePool controls is refused by the service, before metering', async (t) => {
  const rest = {
    request: async (method: string, path: string) => {
      if (method === 'GET' && path === `/api/v1/namespaces/${NS}/pods/r-0`) {
        return { metadata: { namespace: NS, name: 'r-0', uid: 'uid-r-0', labels: {} }, spec: { nodeName: 'gpu-1', serviceAccountName: 'default' } };
      }
      throw new Error(`unexpected ${method} ${path}`);
    },
  } as unknown as RestClient;
  const handed: Array<{ pod?: unknown } | undefined> = [];
  const answer = await serviceOver(rest, handed).handle('POST', PATHS.usage, { authorization: `Bearer ${fakeToken('r-0')}` }, reportOfR0());
  t.is(answer.status, 409, JSON.stringify(answer.body));
  t.regex(JSON.stringify(answer.body), /not a Chrysalis replica/);
  t.deepEqual(handed, [], 'metering saw nothing');
});
