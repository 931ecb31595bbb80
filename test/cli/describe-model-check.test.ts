// describe ipool's "Model check" line: how many of the replicas built for the current spec verified the
// model's hash, are still checking, or failed, counted from their Pods (the pool's ModelVerified
// condition names no count, so that each finished check is not a write of the pool's status).
import test from 'ava';
import { modelChecksOf } from '../../cli/src/commands/describe.js';
import { replicaTemplateHash } from '../../operator/src/controllers/inferencepool/template-hash.js';
import type { KubeObject } from '../../operator/src/kube/resource.js';
import { LABEL_TEMPLATE_HASH } from '../../operator/src/marks.js';
import { formatModelCheckReport } from '../../operator/src/model/model-check-report.js';
import { MODEL_HASH, pool } from '../inferencepool/builders.js';

const llm = pool('llm', 4);
const replica = (name: string, terminated: object | undefined, templateHash = replicaTemplateHash(llm)): KubeObject => ({
  metadata: { name, labels: { [LABEL_TEMPLATE_HASH]: templateHash } },
  status: { initContainerStatuses: [{ name: 'model-check', ...(terminated ? { state: { terminated } } : {}) }] },
});
const verified = { exitCode: 0, message: formatModelCheckReport({ result: 'verified', hash: MODEL_HASH, root: 'd'.repeat(64), files: 3, bytes: 10, message: 'model verified' }) };
const failed = { exitCode: 1, message: formatModelCheckReport({ result: 'failed', reason: 'SourceUnavailable', message: 'GET http://mirror/m.tar answered 404 Not Found' }) };

test('counts verified, still checking and failed replicas of the current spec; an earlier spec\'s replica is not counted', (t) => {
  const pods = [replica('llm-0', verified), replica('llm-1', verified), replica('llm-2', undefined), replica('llm-3', failed), replica('llm-9', verified, 'earlier')];
  t.is(modelChecksOf(llm, pods), '2 of 4 replicas on the current spec verified the model\'s hash, 1 still checking, 1 failed (see the ModelVerified condition)');
  t.is(modelChecksOf(llm, pods.slice(0, 2)), '2 of 2 replicas on the current spec verified the model\'s hash');
});

test('no replica of the current spec, or Pods that could not be read', (t) => {
  t.is(modelChecksOf(llm, [replica('llm-9', verified, 'earlier')]), 'no replica built for the current spec yet');
  t.is(modelChecksOf(llm, undefined), undefined);
});
