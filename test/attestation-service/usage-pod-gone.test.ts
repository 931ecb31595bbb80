// Finding (the fleet simulator's replicas sending their last report as their Pod went): a usage report for
// a Pod that no longer exists was answered 409, as a challenge for it is. The attester takes 409 for a
// stale read and sends again, so the sidecar's last report tried for its whole 10 s deadline, five
// requests to the service, for a Pod that will not come back. Now the service hands the report to
// metering, which refuses it with a verdict (UNKNOWN_REPLICA), answered at once.
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

test('a usage report for a Pod that is gone is refused by metering with a verdict, not answered 409', async (t) => {
  const reads: string[] = [];
  const rest = {
    request: async (method: string, path: string) => {
      reads.push(`${method} ${path}`);
      throw new KubeApiError(404, 'NotFound', 'pods "r-0" not found', method, path);
    },
  } as unknown as RestClient;
  const handed: Array<{ pod?: unknown } | undefined> = [];
  const service = new AttestationService({
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
  const answer = await service.handle('POST', PATHS.usage, { authorization: `Bearer ${fakeToken('r-0')}` },
    signReport(replicaKey(7), report({ namespace: NS, pod: 'r-0', bootId: 'boot-0001', sequence: 3, prompt: 5, gen: 5 })));
  t.is(answer.status, 200, JSON.stringify(answer.body));
  t.deepEqual(answer.body, { accepted: false, reasons: [{ code: 'UNKNOWN_REPLICA', message: `no replica Pod ${NS}/r-0` }] });
  t.deepEqual(handed, [undefined], 'metering gets the report with no Pod read for it, and reads (and refuses) it itself');
  t.deepEqual(reads, [`GET /api/v1/namespaces/${NS}/pods/r-0`]);
});
